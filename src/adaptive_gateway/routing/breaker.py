"""The circuit breaker of one deployment: a small state machine driven by an injected clock.

closed --(failure_threshold consecutive failures, or failure_rate over the window)--> open
open --(open_seconds elapsed, stretched by up to ``jitter``)--> a request may take the half-open probe
half-open --(close_after successful probes, one at a time)--> closed;  --(a failed probe)--> open again

Pure: no I/O and no clock of its own. ``routing/breaker_redis.py`` runs the same transitions atomically in
Redis when breakers are shared between workers and replicas, and mirrors the result here.
"""

from __future__ import annotations

from adaptive_gateway.config.schema import BreakerConfig

CLOSED, OPEN, HALF_OPEN = 0, 1, 2
STATE_NAMES = ("closed", "open", "half_open")
# what a request may do with a deployment
ALLOW, DENY, PROBE = 0, 1, 2


class Breaker:
    """Breaker state. ``version`` is the last shared (Redis) version applied; local-only stays 0."""

    __slots__ = (
        "failures",
        "open_until",
        "opened_at",
        "probe_until",
        "state",
        "successes",
        "trips",
        "version",
    )

    def __init__(self) -> None:
        self.state = CLOSED
        self.failures = 0  # consecutive, while closed
        self.successes = 0  # successful probes, while half-open
        self.open_until = 0.0
        self.probe_until = 0.0  # a half-open probe slot is held until then
        self.opened_at = 0.0
        self.trips = 0
        self.version = 0

    @property
    def name(self) -> str:
        return STATE_NAMES[self.state]

    def gate(self, now: float) -> int:
        """ALLOW (closed), DENY (open, or a probe already in flight) or PROBE (a probe may be taken)."""
        if self.state == CLOSED:
            return ALLOW
        if self.state == OPEN:
            return PROBE if now >= self.open_until else DENY
        return PROBE if now >= self.probe_until else DENY

    def take_probe(self, now: float, policy: BreakerConfig) -> bool:
        """Claim the half-open probe slot; False when another request holds it or it is still open."""
        if self.gate(now) != PROBE:
            return False
        if self.state == OPEN:
            self.state, self.successes = HALF_OPEN, 0
        self.probe_until = now + policy.probe_timeout
        return True

    def release(self) -> None:
        """A probe ended without telling anything about the deployment (client error, cancelled)."""
        if self.state == HALF_OPEN:
            self.probe_until = 0.0

    def success(self, policy: BreakerConfig) -> bool:
        """Record a success; True when the state changed."""
        if self.state == CLOSED:
            self.failures = 0
            return False
        if self.state == HALF_OPEN:
            self.successes += 1
            self.probe_until = 0.0  # the next request may probe right away
            if self.successes >= policy.close_after:
                self.state, self.failures, self.successes = CLOSED, 0, 0
                return True
        return False  # open: a request admitted before it opened; says nothing new

    def failure(self, now: float, policy: BreakerConfig, u: float, rate_tripped: bool = False) -> bool:
        """Record a failure (``u`` in [0, 1) draws the jitter); True when it opened."""
        if self.state == OPEN:
            return False
        if self.state == CLOSED:
            self.failures += 1
            if self.failures < policy.failure_threshold and not rate_tripped:
                return False
        self.open(now, policy, u)
        return True

    def open(self, now: float, policy: BreakerConfig, u: float) -> None:
        self.state = OPEN
        self.opened_at = now
        self.open_until = now + policy.open_seconds * (1.0 + policy.jitter * u)
        self.successes = 0
        self.probe_until = 0.0
        self.trips += 1

    def apply(self, state: int, failures: int, successes: int, open_until: float, version: int) -> None:
        """Mirror a shared state read from Redis (newer versions only)."""
        if version <= self.version:
            return
        if state == OPEN and self.state != OPEN:
            self.trips += 1
            self.opened_at = open_until  # unknown exactly; only shown in explanations
        self.state, self.failures, self.successes = state, failures, successes
        self.open_until, self.version = open_until, version
        if state != HALF_OPEN:
            self.probe_until = 0.0

    def remaining(self, now: float) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        return max(self.open_until - now, 0.0) if self.state == OPEN else 0.0

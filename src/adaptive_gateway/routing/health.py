"""Passive (live traffic) and active (probe) health of one deployment, and its 0-100 score.

Recorded on every request, so every method here is a handful of attribute updates: a ring of time
buckets for the success rate over the breaker window, an EWMA of latency, and counts of error classes.
"""

from __future__ import annotations

from adaptive_gateway.config import Deployment
from adaptive_gateway.routing.breaker import CLOSED, OPEN, Breaker

BUCKETS = 6
EWMA_ALPHA = 0.3


class Health:
    __slots__ = (
        "bucket_s",
        "cool_until",
        "errors",
        "ewma_ms",
        "fail",
        "ids",
        "inflight",
        "last_error",
        "last_failure",
        "last_latency_at",
        "last_success",
        "ok",
        "probe_at",
        "probe_detail",
        "probe_ms",
        "probe_ok",
        "requests",
    )

    def __init__(self, window: float) -> None:
        self.bucket_s = window / BUCKETS
        self.ok = [0] * BUCKETS
        self.fail = [0] * BUCKETS
        self.ids = [-1] * BUCKETS
        self.inflight = 0
        self.requests = 0
        self.ewma_ms: float | None = None
        self.last_latency_at = 0.0
        self.last_success = 0.0
        self.last_failure = 0.0
        self.last_error: str | None = None
        self.errors: dict[str, int] = {}
        self.cool_until = 0.0  # after a 429: tried only when nothing else is left, until then
        self.probe_ok: bool | None = None  # active probes: None = not probed
        self.probe_at = 0.0
        self.probe_ms: float | None = None
        self.probe_detail = ""

    def _slot(self, now: float) -> int:
        bucket = int(now / self.bucket_s)
        i = bucket % BUCKETS
        if self.ids[i] != bucket:
            self.ids[i], self.ok[i], self.fail[i] = bucket, 0, 0
        return i

    def success(self, now: float, latency_ms: float) -> None:
        self.requests += 1
        self.ok[self._slot(now)] += 1
        self.last_success = now
        self.latency(now, latency_ms)

    def latency(self, now: float, ms: float) -> None:
        prev = self.ewma_ms
        self.ewma_ms = ms if prev is None else prev + EWMA_ALPHA * (ms - prev)
        self.last_latency_at = now

    def failure(self, now: float, kind: str, message: str, counts: bool) -> None:
        """An error of class ``kind``; ``counts`` says whether it counts against the success rate."""
        self.requests += 1
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.last_error = message[:300]
        self.last_failure = now
        if counts:
            self.fail[self._slot(now)] += 1

    def window(self, now: float) -> tuple[int, int]:
        """(successes, failures) over the last window."""
        oldest = int(now / self.bucket_s) - BUCKETS
        ok = fail = 0
        for i in range(BUCKETS):
            if self.ids[i] > oldest:
                ok += self.ok[i]
                fail += self.fail[i]
        return ok, fail

    def score(self, now: float, breaker: Breaker) -> int:
        """0 (open breaker) .. 100: the success rate over the window (no traffic counts as healthy),
        capped while half-open, cooling down after a 429, or failing active probes."""
        if breaker.state == OPEN and now < breaker.open_until:
            return 0
        ok, fail = self.window(now)
        score = 100.0 * (ok + 1) / (ok + fail + 1)
        if breaker.state != CLOSED:
            score = min(score, 30.0)
        if self.cool_until > now:
            score = min(score, 50.0)
        if self.probe_ok is False:
            score = min(score, 20.0)
        return round(score)


class DeploymentState:
    """Everything the router knows about one deployment in this process."""

    __slots__ = ("breaker", "health")

    def __init__(self, window: float) -> None:
        self.health = Health(window)
        self.breaker = Breaker()


class Board:
    """Per-deployment state of one router, keyed by deployment id (it survives config reloads)."""

    __slots__ = ("rr", "states")

    def __init__(self) -> None:
        self.states: dict[str, DeploymentState] = {}
        self.rr: dict[str, int] = {}  # round-robin position per model

    def state(self, dep: Deployment) -> DeploymentState:
        st = self.states.get(dep.id)
        if st is None:
            st = self.states[dep.id] = DeploymentState(dep.breaker.window)
        return st

    def by_id(self, dep_id: str, window: float = 60.0) -> DeploymentState:
        """The state of a deployment known only by id (news from another process)."""
        st = self.states.get(dep_id)
        if st is None:
            st = self.states[dep_id] = DeploymentState(window)
        return st

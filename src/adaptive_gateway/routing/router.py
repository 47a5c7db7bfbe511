"""The Router: live routing state (health, breakers, round-robin positions) of one gateway, the planner
over it, and the hooks the executor calls around every attempt.

One Router hangs off each Executor (so off each Gateway); nothing is module-level. The clock and the
random source are injectable so tests drive breakers through their schedule without sleeping. With
``state.redis_url`` configured, breaker transitions are shared with other workers and replicas through
:class:`~adaptive_gateway.routing.breaker_redis.RedisBreakers`; the hot path still reads only local state.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from adaptive_gateway.config import CompiledConfig, Deployment, Model
from adaptive_gateway.errors import GatewayError
from adaptive_gateway.routing.breaker import ALLOW, CLOSED, OPEN
from adaptive_gateway.routing.health import Board, DeploymentState
from adaptive_gateway.routing.plan import CandidateFilter, Plan, Planner
from adaptive_gateway.routing.retry import RATE_LIMIT, FailureClass, cooldown
from adaptive_gateway.types import ChatRequest

Clock = Callable[[], float]
log = logging.getLogger("adaptive_gateway.routing")


class SharedBreakers(Protocol):
    """Breaker transitions shared across processes (Redis). Writes are fire-and-forget."""

    def failure(self, dep: Deployment, now: float, u: float, rate_tripped: bool) -> None: ...

    def success(self, dep: Deployment, now: float) -> None: ...

    def release(self, dep: Deployment) -> None: ...

    async def take_probe(self, dep: Deployment, now: float) -> bool | None: ...

    async def close(self) -> None: ...


class Router:
    def __init__(self, clock: Clock = time.time, rng: random.Random | None = None) -> None:
        self.clock = clock
        self.rng = rng or random.Random()
        self.board = Board()
        self.planner = Planner(self.board, self.rng)
        self.shared: SharedBreakers | None = None

    def plan(
        self,
        config: CompiledConfig,
        model: Model,
        filters: Sequence[CandidateFilter] = (),
        request: ChatRequest | None = None,
        headers: Mapping[str, str] | None = None,
        key: str | None = None,
    ) -> Plan:
        """The ordered candidates for a request (``key``: the caller's identity, for sticky splits)."""
        return self.planner.plan(config, model, self.clock(), filters, request, headers, key)

    # ---- around each attempt --------------------------------------------------------------------------

    def state(self, dep: Deployment) -> DeploymentState:
        return self.board.state(dep)

    def gate(self, dep: Deployment, st: DeploymentState) -> int:
        """ALLOW, DENY (open: skip without a network call) or PROBE (call :meth:`take_probe` first)."""
        return st.breaker.gate(self.clock()) if dep.breaker.enabled else ALLOW

    async def take_probe(self, dep: Deployment, st: DeploymentState) -> bool:
        """Claim the half-open probe of ``dep`` (across replicas when shared)."""
        now = self.clock()
        if self.shared is not None:
            granted = await self.shared.take_probe(dep, now)
            if granted is not None:
                return granted
        return st.breaker.take_probe(now, dep.breaker)

    def succeeded(self, dep: Deployment, st: DeploymentState, latency_ms: float) -> None:
        """An attempt answered (for a stream: its first bytes arrived)."""
        now = self.clock()
        st.health.success(now, latency_ms)
        br = st.breaker
        if br.state == CLOSED and not br.failures:
            return  # the hot path: nothing changed
        if br.success(dep.breaker):
            log.warning("circuit breaker of %s closed", dep.id)
        if self.shared is not None:
            self.shared.success(dep, now)

    def failed(self, dep: Deployment, st: DeploymentState, fc: FailureClass, err: GatewayError) -> None:
        """An attempt failed with class ``fc``; breaker failures may open the breaker."""
        now = self.clock()
        h = st.health
        h.failure(now, fc.kind, err.message, fc.breaker)
        if fc.kind == RATE_LIMIT:
            h.cool_until = max(h.cool_until, now + cooldown(err))
        policy = dep.breaker
        if not (fc.breaker and policy.enabled):
            return
        rate_tripped = False
        if policy.failure_rate is not None:
            ok, fail = h.window(now)
            rate_tripped = ok + fail >= policy.min_requests and fail >= policy.failure_rate * (ok + fail)
        u = self.rng.random()
        if st.breaker.failure(now, policy, u, rate_tripped):
            log.warning(
                "circuit breaker of %s opened for %.0f s: %s", dep.id, st.breaker.remaining(now), err.message
            )
        if self.shared is not None:
            self.shared.failure(dep, now, u, rate_tripped)

    def released(self, dep: Deployment, st: DeploymentState, probe: bool) -> None:
        """An attempt ended without saying anything about the deployment (client error, cancelled)."""
        if probe:
            st.breaker.release()
            if self.shared is not None:
                self.shared.release(dep)

    def is_open(self, dep: Deployment) -> bool:
        st = self.board.states.get(dep.id)
        return st is not None and st.breaker.state == OPEN

    async def share(self, redis_url: str, prefix: str, poll_seconds: float = 1.0) -> None:
        """Share breaker state with other workers and replicas through Redis."""
        from adaptive_gateway.routing.breaker_redis import RedisBreakers

        shared = RedisBreakers(redis_url, prefix, self.board, poll_seconds)
        await shared.start()
        self.shared = shared

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()
            self.shared = None

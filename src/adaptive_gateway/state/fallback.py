"""Redis with a local fallback: when Redis cannot be reached, admission continues on in-process
counters (limits then hold per replica, not globally) and the degradation is logged once, counted and
reported by :meth:`ResilientCounters.ping` (readiness). Redis is probed again every few seconds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from adaptive_gateway.state.base import (
    AdmitPlan,
    AdmitResult,
    Lane,
    Settlement,
    SettleResult,
    StateUnavailable,
)
from adaptive_gateway.state.memory import MemoryCounters
from adaptive_gateway.state.redis import RedisCounters

log = logging.getLogger("adaptive_gateway.state")


class ResilientCounters:
    """Counters that prefer Redis and fall back to memory; settlements go to the backend that admitted."""

    name = "redis"

    def __init__(
        self,
        primary: RedisCounters,
        local: MemoryCounters | None = None,
        probe_seconds: float = 2.0,
        on_recover: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.primary = primary
        self.local = local or MemoryCounters()
        self.probe_seconds = probe_seconds
        self.on_recover = on_recover
        self.degraded_since: float | None = None
        self.last_error = ""
        self.fallbacks = 0  # admissions served locally because Redis was down
        self._probe: asyncio.Task[None] | None = None

    def _down(self, exc: Exception) -> None:
        self.last_error = str(exc)
        if self.degraded_since is None:
            self.degraded_since = time.time()
            log.warning("Redis unreachable (%s): falling back to local, per-replica limits", exc)
            self._probe = asyncio.get_running_loop().create_task(self._probe_loop())

    async def _probe_loop(self) -> None:
        while self.degraded_since is not None:
            await asyncio.sleep(self.probe_seconds)
            try:
                await self.primary.ping()
            except (StateUnavailable, OSError) as exc:
                self.last_error = str(exc)
                continue
            log.warning(
                "Redis reachable again after %.0fs: shared limits restored", time.time() - self.degraded_since
            )
            self.degraded_since = None
            if self.on_recover is not None:
                await self.on_recover()

    async def admit(self, plan: AdmitPlan) -> AdmitResult:
        if self.degraded_since is None:
            try:
                return await self.primary.admit(plan)
            except StateUnavailable as exc:
                self._down(exc)
        return self._fallback(plan)

    def admit_local(self, plan: AdmitPlan) -> AdmitResult | None:
        """Decided without waiting (a block of Redis capacity, or the local fallback), else None."""
        if self.degraded_since is None:
            return self.primary.admit_local(plan)
        return self._fallback(plan)

    def lane(self, plan: AdmitPlan, token_ops: Sequence[int]) -> Lane | None:
        """Redis's lane, each call passing while Redis is up (down: None, and admission goes by plans)."""
        lane = self.primary.lane(plan, token_ops)
        return _WhileUp(self, lane) if lane is not None else None

    def _fallback(self, plan: AdmitPlan) -> AdmitResult:
        self.fallbacks += 1
        return self.local.admit_now(plan)

    def settle_local(self, item: Settlement) -> bool:
        """A request admitted from a block of Redis capacity settles into its block (no call)."""
        return item.backend == "redis" and self.primary.settle_local(item)

    async def settle(self, items: list[Settlement]) -> list[SettleResult]:
        if all(s.backend == "redis" for s in items):  # the usual case: one call, no bookkeeping
            try:
                return await self.primary.settle(items)
            except StateUnavailable as exc:
                # reservations and leases in Redis expire on their own; spend is re-seeded from the store
                self._down(exc)
                return [[] for _ in items]
        remote = [s for s in items if s.backend == "redis"]
        results: dict[int, SettleResult] = {}
        if remote:
            try:
                for s, r in zip(remote, await self.primary.settle(remote), strict=True):
                    results[id(s)] = r
            except StateUnavailable as exc:
                # reservations and leases in Redis expire on their own; spend is re-seeded from the store
                self._down(exc)
        for s in items:
            if s.backend != "redis":
                results[id(s)] = self.local.settle_now(s)
        return [results.get(id(s), []) for s in items]

    async def seed_spend(self, seeds: dict[str, tuple[int, float]]) -> None:
        await self.local.seed_spend(seeds)
        try:
            await self.primary.seed_spend(seeds)
        except StateUnavailable as exc:
            self._down(exc)

    async def budget_state(self, keys: list[str]) -> list[tuple[int, int]]:
        if self.degraded_since is None:
            try:
                return await self.primary.budget_state(keys)
            except StateUnavailable as exc:
                self._down(exc)
        return await self.local.budget_state(keys)

    async def ping(self) -> tuple[bool, str]:
        if self.degraded_since is None:
            try:
                return await self.primary.ping()
            except StateUnavailable as exc:
                self._down(exc)
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.degraded_since or time.time()))
        # still ready: requests are served, with per-replica limits
        return True, (
            f"degraded: Redis unreachable since {since} ({self.last_error}); using local limits, "
            f"{self.fallbacks} admission(s) served locally"
        )

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        await self.primary.close()


class _WhileUp:
    """A Redis lane that stands aside while Redis is unreachable (the fallback then admits by plans)."""

    __slots__ = ("counters", "lane")

    def __init__(self, counters: ResilientCounters, lane: Lane) -> None:
        self.counters, self.lane = counters, lane

    def admit(self, lease_id: str, tokens: int, cost: int, ttl: float) -> AdmitResult | None:
        if self.counters.degraded_since is not None:
            return None
        return self.lane.admit(lease_id, tokens, cost, ttl)

    def settle(self, lease_id: str, bucket: int, token_delta: int, cost: int) -> SettleResult | None:
        return self.lane.settle(lease_id, bucket, token_delta, cost)

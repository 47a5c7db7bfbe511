"""In-process counters: the default, and the fallback when Redis is unreachable.

Atomic because the event loop runs one admission at a time; shared by nothing but this process
(with several workers or replicas, configure Redis).
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from adaptive_gateway.state.base import (
    DENY_BUDGET,
    DENY_LEASE,
    DENY_WINDOW,
    WINDOW_SECONDS,
    AdmitPlan,
    AdmitResult,
    Lane,
    Settlement,
    SettleResult,
)


@dataclass(slots=True)
class _Window:
    buckets: deque[list[int]] = field(default_factory=deque)  # [second, units], oldest first
    total: int = 0

    def expire(self, sec: int) -> None:
        edge = sec - WINDOW_SECONDS
        buckets = self.buckets
        while buckets and buckets[0][0] <= edge:
            self.total -= buckets.popleft()[1]

    def retry_after(self, need: int, now: float) -> float:
        freed = 0
        for sec, units in self.buckets:
            freed += units
            if freed >= need:
                return sec + WINDOW_SECONDS - now
        return float(WINDOW_SECONDS)

    def add(self, sec: int, units: int) -> None:
        buckets = self.buckets
        if buckets and buckets[-1][0] == sec:
            buckets[-1][1] += units
        else:
            buckets.append([sec, units])
        self.total += units

    def adjust(self, sec: int, delta: int) -> None:
        for bucket in reversed(self.buckets):
            if bucket[0] == sec:
                bucket[1] += delta
                self.total += delta
                return
            if bucket[0] < sec:
                return


@dataclass(slots=True)
class _Leases:
    """Held leases: id -> (amount, expiry), with a heap of expiries so expiring is O(log n)."""

    held: dict[str, tuple[int, float]] = field(default_factory=dict)
    heap: list[tuple[float, str]] = field(default_factory=list)

    def take(self, lid: str, amount: int, until: float) -> None:
        self.held[lid] = (amount, until)
        heapq.heappush(self.heap, (until, lid))

    def release(self, lid: str) -> int | None:
        """The amount the lease held (None when it was not held); its heap entry goes lazily."""
        lease = self.held.pop(lid, None)
        if len(self.heap) > 64 and len(self.heap) > 4 * len(self.held):  # mostly released: rebuild
            self.heap = [(until, held_id) for held_id, (_, until) in self.held.items()]
            heapq.heapify(self.heap)
        return lease[0] if lease is not None else None

    def expire(self, now: float) -> int:
        """Drop leases past their expiry; the amount they held."""
        freed = 0
        heap, held = self.heap, self.held
        while heap and heap[0][0] <= now:
            until, lid = heapq.heappop(heap)
            lease = held.get(lid)
            if lease is not None and lease[1] == until:
                del held[lid]
                freed += lease[0]
        return freed


@dataclass(slots=True)
class _Budget:
    spent: int = 0
    reserved: int = 0
    leases: _Leases = field(default_factory=_Leases)
    expires_at: float = 0.0

    def expire(self, now: float) -> None:
        if self.leases.heap:
            self.reserved -= self.leases.expire(now)


class MemoryCounters:
    """The :class:`~adaptive_gateway.state.base.Counters` backend kept in this process."""

    name = "memory"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._leases: dict[str, _Leases] = {}
        self._budgets: dict[str, _Budget] = {}
        self._settled = 0
        self.generation = 0  # bumped when budgets are forgotten: lanes resolved before must resolve again

    async def admit(self, plan: AdmitPlan) -> AdmitResult:
        return self.admit_now(plan)

    def admit_local(self, plan: AdmitPlan) -> AdmitResult | None:
        """Decided here and now, always (see ``Counters.admit_local``)."""
        return self.admit_now(plan)

    def admit_now(self, plan: AdmitPlan) -> AdmitResult:
        """Synchronous admission (the memory backend never waits)."""
        ops = _Resolved(self, plan, ())
        return ops.take(plan.lease_id, plan.lease_ttl, ops.costs, [b.amount for b in plan.budgets])

    def lane(self, plan: AdmitPlan, token_ops: Sequence[int]) -> Lane:
        """``plan``'s counters found once, for admitting requests of its shape (``Counters.lane``)."""
        return _Resolved(self, plan, token_ops)

    async def settle(self, items: list[Settlement]) -> list[SettleResult]:
        return [self.settle_now(item) for item in items]

    def settle_now(self, item: Settlement) -> SettleResult:
        """Synchronous settlement of one request."""
        leases = [self._leases[key] for key in item.leases if key in self._leases]
        windows = [(self._windows[key], d) for key, d in item.windows if d and key in self._windows]
        budgets = []
        for key, actual, expires_at in item.budgets:
            bud = self._budgets.get(key)
            if bud is None:
                bud = self._budgets[key] = _Budget(expires_at=expires_at)
            budgets.append((bud, actual))
        return self._settle(item.lease_id, item.bucket, leases, windows, budgets)

    def _settle(
        self,
        lid: str,
        bucket: int,
        leases: list[_Leases],
        windows: list[tuple[_Window, int]],
        budgets: list[tuple[_Budget, int]],
    ) -> SettleResult:
        for held in leases:
            held.release(lid)
        for win, delta in windows:
            win.adjust(bucket, delta)
        out: SettleResult = []
        for bud, actual in budgets:
            amount = bud.leases.release(lid)
            if amount is not None:
                bud.reserved -= amount
            before = bud.spent
            bud.spent += actual
            out.append((before, bud.spent))
        self._settled += 1
        if self._settled % 4096 == 0 and len(self._budgets) > 256:
            self._drop_old_budgets()
        return out

    def _drop_old_budgets(self) -> None:
        """Forget budgets of periods long over (lanes holding them find out by the generation)."""
        now = self.clock()
        old = [k for k, b in self._budgets.items() if b.expires_at and b.expires_at + 86400 < now]
        for key in old:
            del self._budgets[key]
        if old:
            self.generation += 1

    async def seed_spend(self, seeds: dict[str, tuple[int, float]]) -> None:
        for key, (amount, expires_at) in seeds.items():
            if key not in self._budgets:
                self._budgets[key] = _Budget(spent=amount, expires_at=expires_at)

    async def budget_state(self, keys: list[str]) -> list[tuple[int, int]]:
        now = self.clock()
        out = []
        for key in keys:
            bud = self._budgets.get(key)
            if bud is None:
                out.append((0, 0))
            else:
                bud.expire(now)
                out.append((bud.spent, bud.reserved))
        return out

    async def ping(self) -> tuple[bool, str]:
        return True, "in-process counters (not shared between workers or replicas)"

    async def close(self) -> None:
        return None


def _deny(res: AdmitResult, kind: str, index: int, retry: float) -> AdmitResult:
    res.ok, res.denied, res.index, res.retry_after = False, kind, index, retry
    return res


class _Resolved:
    """A plan's counters looked up once: a one-off plan (``admit_now``) or a lane (``lane``), whose
    requests then cost no lookups. Windows at ``token_ops`` take the request's tokens; every budget
    reserves the request's cost."""

    __slots__ = (
        "budgets",
        "costs",
        "counters",
        "generation",
        "leases",
        "limits",
        "plan",
        "token_ops",
        "windows",
    )

    def __init__(self, counters: MemoryCounters, plan: AdmitPlan, token_ops: Sequence[int]) -> None:
        self.counters, self.plan = counters, plan
        self.token_ops = tuple(token_ops)
        self.limits = [op.limit for op in plan.windows]
        self.costs = [op.cost for op in plan.windows]
        self._resolve()

    def _resolve(self) -> None:
        counters, plan = self.counters, self.plan
        self.generation = counters.generation
        known = counters._windows
        self.windows = [known.get(op.key) or known.setdefault(op.key, _Window()) for op in plan.windows]
        held = counters._leases
        self.leases = [
            (held.get(op.key) or held.setdefault(op.key, _Leases()), op.limit) for op in plan.leases
        ]
        budgets = counters._budgets
        self.budgets = [
            (budgets.get(b.key) or budgets.setdefault(b.key, _Budget()), b.limit, b.hard, b.expires_at)
            for b in plan.budgets
        ]

    # ---- Lane --------------------------------------------------------------------------------------------

    def admit(self, lease_id: str, tokens: int, cost: int, ttl: float) -> AdmitResult | None:
        if self.generation != self.counters.generation:
            self._resolve()  # budgets were forgotten: count in the ones kept now
        costs = self.costs
        if self.token_ops:
            costs = costs.copy()
            for i in self.token_ops:
                costs[i] = tokens
        return self.take(lease_id, ttl, costs, [cost] * len(self.budgets))

    def settle(self, lease_id: str, bucket: int, token_delta: int, cost: int) -> SettleResult | None:
        if self.generation != self.counters.generation:
            self._resolve()
        windows = self.windows
        deltas = [(windows[i], token_delta) for i in self.token_ops] if token_delta else []
        budgets = [(bud, cost) for bud, _, _, _ in self.budgets]
        return self.counters._settle(lease_id, bucket, [h for h, _ in self.leases], deltas, budgets)

    # ---- the decision ------------------------------------------------------------------------------------

    def take(self, lid: str, ttl: float, costs: list[int], amounts: list[int]) -> AdmitResult:
        """Check every op and take all of them, or none (a cost per window, an amount per budget)."""
        now = self.counters.clock()
        sec = int(now)
        edge = sec - WINDOW_SECONDS
        res = AdmitResult(True, sec, "memory", None, 0, 0.0, [], [], [], [])
        limits = self.limits
        for i, win in enumerate(self.windows):
            if win.buckets and win.buckets[0][0] <= edge:
                win.expire(sec)
            cost, limit = costs[i], limits[i]
            if win.total + cost > limit:
                retry = win.retry_after(win.total + cost - limit, now) if cost <= limit else WINDOW_SECONDS
                return _deny(res, DENY_WINDOW, i, retry)
        for i, (held, limit) in enumerate(self.leases):
            if held.heap and held.heap[0][0] <= now:
                held.expire(now)
            if len(held.held) >= limit:
                return _deny(res, DENY_LEASE, i, 1.0)
        spent, reserved = res.spent, res.reserved
        for i, (bud, limit, hard, expires_at) in enumerate(self.budgets):
            if bud.leases.heap and bud.leases.heap[0][0] <= now:
                bud.expire(now)
            spent.append(bud.spent)
            reserved.append(bud.reserved)
            amount = amounts[i]
            if hard and bud.spent + bud.reserved + amount > limit:
                return _deny(res, DENY_BUDGET, i, max(expires_at - now, 0.0))
        # every check passed: take it all
        remaining, reset = res.remaining, res.reset
        for i, win in enumerate(self.windows):
            win.add(sec, costs[i])
            remaining.append(limits[i] - win.total)
            reset.append(win.buckets[0][0] + WINDOW_SECONDS - now)
        until = now + ttl
        for held, _ in self.leases:
            held.take(lid, 1, until)
        for i, (bud, _, _, expires_at) in enumerate(self.budgets):
            amount = amounts[i]
            bud.leases.take(lid, amount, until)
            bud.reserved += amount
            bud.expires_at = expires_at
        return res

"""In-process counters: the default, and the fallback when Redis is unreachable.

Atomic because the event loop runs one admission at a time; shared by nothing but this process
(with several workers or replicas, configure Redis).
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from adaptive_gateway.state.base import (
    DENY_BUDGET,
    DENY_LEASE,
    DENY_WINDOW,
    WINDOW_SECONDS,
    AdmitPlan,
    AdmitResult,
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

    async def admit(self, plan: AdmitPlan) -> AdmitResult:
        return self.admit_now(plan)

    def admit_local(self, plan: AdmitPlan) -> AdmitResult | None:
        """Decided here and now, always (see ``Counters.admit_local``)."""
        return self.admit_now(plan)

    def admit_now(self, plan: AdmitPlan) -> AdmitResult:
        """Synchronous admission (the memory backend never waits)."""
        now = self.clock()
        sec = int(now)
        edge = sec - WINDOW_SECONDS
        res = AdmitResult(True, sec, self.name, None, 0, 0.0, [], [], [], [])
        windows: list[_Window] = []
        if plan.windows:
            known = self._windows
            for op in plan.windows:
                win = known.get(op.key)
                if win is None:
                    win = known[op.key] = _Window()
                elif win.buckets and win.buckets[0][0] <= edge:
                    win.expire(sec)
                if win.total + op.cost > op.limit:
                    need = win.total + op.cost - op.limit
                    retry = win.retry_after(need, now) if op.cost <= op.limit else WINDOW_SECONDS
                    return self._deny(res, DENY_WINDOW, len(windows), retry)
                windows.append(win)
        leases: list[_Leases] = []
        for lop in plan.leases:
            held = self._leases.get(lop.key)
            if held is None:
                held = self._leases[lop.key] = _Leases()
            elif held.heap and held.heap[0][0] <= now:
                held.expire(now)
            if len(held.held) >= lop.limit:
                return self._deny(res, DENY_LEASE, len(leases), 1.0)
            leases.append(held)
        budgets: list[_Budget] = []
        if plan.budgets:
            known_budgets = self._budgets
            spent, reserved = res.spent, res.reserved
            for bop in plan.budgets:
                bud = known_budgets.get(bop.key)
                if bud is None:
                    bud = known_budgets[bop.key] = _Budget()
                elif bud.leases.heap and bud.leases.heap[0][0] <= now:
                    bud.expire(now)
                spent.append(bud.spent)
                reserved.append(bud.reserved)
                if bop.hard and bud.spent + bud.reserved + bop.amount > bop.limit:
                    return self._deny(res, DENY_BUDGET, len(budgets), max(bop.expires_at - now, 0.0))
                budgets.append(bud)
        # every check passed: take it all (the lists above line up with the plan's ops)
        remaining, reset = res.remaining, res.reset
        for op, win in zip(plan.windows, windows, strict=False):
            win.add(sec, op.cost)
            remaining.append(op.limit - win.total)
            reset.append(win.buckets[0][0] + WINDOW_SECONDS - now)
        until = now + plan.lease_ttl
        lid = plan.lease_id
        for held in leases:
            held.take(lid, 1, until)
        for bop, bud in zip(plan.budgets, budgets, strict=False):
            bud.leases.take(lid, bop.amount, until)
            bud.reserved += bop.amount
            bud.expires_at = bop.expires_at
        return res

    @staticmethod
    def _deny(res: AdmitResult, kind: str, index: int, retry: float) -> AdmitResult:
        res.ok, res.denied, res.index, res.retry_after = False, kind, index, retry
        return res

    async def settle(self, items: list[Settlement]) -> list[SettleResult]:
        return [self.settle_now(item) for item in items]

    def settle_now(self, item: Settlement) -> SettleResult:
        """Synchronous settlement of one request."""
        for key in item.leases:
            held = self._leases.get(key)
            if held is not None:
                held.release(item.lease_id)
        for key, delta in item.windows:
            win = self._windows.get(key)
            if win is not None and delta:
                win.adjust(item.bucket, delta)
        out: SettleResult = []
        for key, actual, expires_at in item.budgets:
            bud = self._budgets.get(key)
            if bud is None:
                bud = self._budgets[key] = _Budget(expires_at=expires_at)
            amount = bud.leases.release(item.lease_id)
            if amount is not None:
                bud.reserved -= amount
            before = bud.spent
            bud.spent += actual
            out.append((before, bud.spent))
        self._drop_old_budgets()
        return out

    def _drop_old_budgets(self) -> None:
        self._settled += 1
        if self._settled % 4096 == 0 and len(self._budgets) > 256:  # budgets of periods long over
            now = self.clock()
            for key in [k for k, b in self._budgets.items() if b.expires_at and b.expires_at + 86400 < now]:
                del self._budgets[key]

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

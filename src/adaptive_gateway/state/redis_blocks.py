"""Blocks of Redis capacity (used by :class:`~adaptive_gateway.state.redis.RedisCounters`).

A busy lane (plans with the same ops: one key's RPM, TPM and budget, say) does not need Redis
for every request: the replica takes a block of ``n`` times the plan's ops in one atomic admission
(counted in Redis's current second, the budget share reserved under the block's own lease id) and hands
it out locally, request by request, until that second ends. Then the block is closed, and once its last
request has settled it is settled as one request: the unused units and tokens go back to their window
bucket, the token corrections of its requests with them, and its reservation is swapped for the actual
cost of its requests. A block closed with requests still in flight gives back what it did not use at
once (its window units; its budget share once what is in flight is reserved under a lease of its own).
Redis never counts less than what was admitted, so limits and hard budgets hold across replicas exactly
as before; ``n`` is at most the lane's rate here (admissions per second) and at
most the remaining capacity over twice the number of replicas taking blocks, and a lane whose block
would be smaller than ``MIN_BLOCK`` is decided request by request (near a limit, and at low rates,
everything is exact). A block lives less than a second, so limit changes apply within a second. Plans
with concurrency leases are always decided one by one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from adaptive_gateway.state.base import (
    AdmitPlan,
    AdmitResult,
    BudgetOp,
    Lane,
    Settlement,
    SettleResult,
    StateUnavailable,
    WindowOp,
)
from adaptive_gateway.state.resp import RespError

log = logging.getLogger("adaptive_gateway.state")

MIN_BLOCK = 8  # a lane whose block would be smaller is decided request by request
MAX_BLOCK = 4096
BLOCK_MARGIN = 0.005  # a block stops admitting this long before Redis's second ends

Enqueue = Callable[[AdmitPlan, bool], Awaitable[list[Any]]]  # (plan, is a block) -> Redis's raw verdict
Settle = Callable[[list[Settlement]], Awaitable[list[SettleResult]]]


@dataclass(slots=True, eq=False)
class _Block:
    """Capacity taken for a lane in one admission: the lane's ops times ``n``, counted in ``bucket``."""

    plan: AdmitPlan  # the block's own plan: its lease id, the ops times n
    bucket: int
    until: float  # loop time after which it admits no more (before Redis's second ends)
    t0: float
    wleft: list[int]  # units / tokens left per window op
    wrem: list[int]  # Redis's remaining per window right after the block was taken
    wreset: list[float]
    bleft: list[int]  # nano-USD left per budget op
    spent: list[int]
    reserved: list[int]
    widx: dict[str, int]
    wdelta: list[int] = field(default_factory=list)  # token corrections of settled requests
    actual: list[int] = field(default_factory=list)  # actual cost of settled requests, per budget
    held: list[int] = field(default_factory=list)  # what its requests in flight reserved, per budget
    inflight: int = 0
    open: bool = True


class _Lane:
    """One lane's current block, the refill on the way, its rate and the last view of its counters."""

    __slots__ = ("bfree", "block", "count", "rate", "refill", "sec", "wrem")

    def __init__(self) -> None:
        self.block: _Block | None = None
        self.refill: asyncio.Future[None] | None = None
        self.sec = 0  # admissions on this lane in loop-time second ``sec`` (count) and the one before
        self.count = 0
        self.rate = 0
        self.wrem: list[int] | None = None  # remaining per window, last seen
        self.bfree: list[int] = []  # limit - spent - reserved per budget, last seen


class Blocks:
    """The lanes of one replica and their blocks. ``enqueue`` sends a plan with the next admission
    script call, ``settle`` settles in Redis, ``result`` reads a raw verdict, ``spawn`` runs a task."""

    def __init__(
        self,
        holder: str,
        enqueue: Enqueue,
        settle: Settle,
        result: Callable[[list[Any]], AdmitResult],
        spawn: Callable[[Any], None],
    ) -> None:
        self.holder = holder  # this replica, in Redis's set of block holders
        self._enqueue, self._settle, self._result, self._spawn = enqueue, settle, result, spawn
        self._lanes: dict[Hashable, _Lane] = {}
        # lease id of a request admitted from a block -> the block and what it reserved per budget
        self._local: dict[str, tuple[_Block, list[int]]] = {}
        self._closed: list[Settlement] = []  # blocks to settle
        self._closer: asyncio.Task[None] | None = None
        self._blocks = 0
        self.holders = 2  # replicas taking blocks, as Redis last said (until then: assume two)
        self.block_count = 0  # blocks taken
        self.local_admits = 0  # admissions served from blocks
        # called with each settled block's budget keys and (spent before, after) per budget
        self.on_block_settled: Callable[[list[str], SettleResult], None] | None = None

    async def admit(self, plan: AdmitPlan) -> AdmitResult:
        """Admit a plan of a lane: from its block, else with a block fetched for it, else alone."""
        assert plan.lane is not None
        loop = asyncio.get_running_loop()
        now = loop.time()
        lane = self._lane(plan.lane, now)
        block = lane.block
        if block is not None:
            res = self._take(lane, block, plan, now)
            if res is not None:
                return res
        if lane.refill is None:
            n = self._size(lane, plan)
            if n:
                lane.refill = loop.create_future()
                self._spawn(self._fetch(lane, plan, n))
        if lane.refill is not None:
            await asyncio.shield(lane.refill)
            block = lane.block
            if block is not None:
                res = self._take(lane, block, plan, loop.time())
                if res is not None:
                    return res
        res = self._result(await self._enqueue(plan, False))
        self._view(lane, plan, res, 1)
        return res

    def admit_local(self, plan: AdmitPlan) -> AdmitResult | None:
        """Admit a plan from its lane's open block, without waiting; None when that takes Redis (a new
        block, or the plan alone): then :meth:`admit` decides. Most requests of a busy lane end here."""
        lane = self._lanes.get(plan.lane)
        if lane is None or lane.block is None:
            return None
        now = asyncio.get_running_loop().time()
        res = self._take(lane, lane.block, plan, now)
        if res is not None:
            self._lane(plan.lane, now)  # counts the admission towards the lane's rate
        return res

    def _lane(self, key: Hashable, now: float) -> _Lane:
        lane = self._lanes.get(key)
        if lane is None:
            if len(self._lanes) > 10_000:  # forget idle lanes
                for k in [k for k, v in self._lanes.items() if v.block is None and v.refill is None]:
                    del self._lanes[k]
            lane = self._lanes[key] = _Lane()
        sec = int(now)
        if sec != lane.sec:
            lane.rate = lane.count if sec == lane.sec + 1 else 0
            lane.sec, lane.count = sec, 0
        lane.count += 1
        return lane

    def _size(self, lane: _Lane, plan: AdmitPlan) -> int:
        """How many requests' worth to take: the lane's rate, at most the remaining capacity over twice
        the replicas taking blocks; 0 when that is below ``MIN_BLOCK``."""
        n = min(max(lane.rate, 2 * lane.count), MAX_BLOCK)
        if n < MIN_BLOCK or lane.wrem is None:
            return 0
        share = 2 * max(self.holders, 1)
        for op, rem in zip(plan.windows, lane.wrem, strict=False):
            if op.cost > 0:
                n = min(n, rem // (op.cost * share))
        for bop, free in zip(plan.budgets, lane.bfree, strict=False):
            if bop.hard and bop.amount > 0:
                n = min(n, free // (bop.amount * share))
        return n if n >= MIN_BLOCK else 0

    @staticmethod
    def _view(lane: _Lane, plan: AdmitPlan, res: AdmitResult, n: int) -> None:
        """Remember the counters as Redis reported them (sizes the next block)."""
        if res.ok:
            lane.wrem = res.remaining
            lane.bfree = [
                b.limit - spent - reserved - b.amount * n
                for b, spent, reserved in zip(plan.budgets, res.spent, res.reserved, strict=False)
            ]
        elif lane.wrem is not None:  # refused: no block until an admission shows room again
            lane.wrem = [0] * len(lane.wrem)

    async def _fetch(self, lane: _Lane, plan: AdmitPlan, n: int) -> None:
        loop = asyncio.get_running_loop()
        self._blocks += 1
        bplan = AdmitPlan(
            f"{self.holder}-b{self._blocks}",
            plan.lease_ttl,
            [WindowOp(op.key, op.limit, op.cost * n) for op in plan.windows],
            [],
            [BudgetOp(b.key, b.limit, b.amount * n, b.hard, b.expires_at) for b in plan.budgets],
        )
        t0 = loop.time()
        try:
            raw = await self._enqueue(bplan, True)
        except Exception:  # the requests waiting for it go one by one (and see the error there)
            raw = None
        refill, lane.refill = lane.refill, None
        if raw is not None:
            res = self._result(raw)
            holders, redis_now = raw[9]
            self.holders = holders
            self._view(lane, bplan, res, 0)
            if res.ok:
                self.block_count += 1
                until = t0 + (1.0 - (redis_now - int(redis_now))) - BLOCK_MARGIN
                windows, budgets = bplan.windows, bplan.budgets
                block = _Block(
                    bplan,
                    res.bucket,
                    until,
                    t0,
                    [op.cost for op in windows],
                    res.remaining,
                    res.reset,
                    [b.amount for b in budgets],
                    res.spent,
                    res.reserved,
                    {op.key: i for i, op in enumerate(windows)},
                    [0] * len(windows),
                    [0] * len(budgets),
                    [0] * len(budgets),
                )
                old, lane.block = lane.block, block
                if old is not None:
                    self._close(lane, old)
                loop.call_at(until, self._close, lane, block)
        if refill is not None:
            refill.set_result(None)

    def _take(self, lane: _Lane, block: _Block, plan: AdmitPlan, now: float) -> AdmitResult | None:
        """Admit ``plan`` from the block, or None (closed, or not enough left in it)."""
        costs = [op.cost for op in plan.windows]
        return self._take_values(lane, block, plan.lease_id, costs, [b.amount for b in plan.budgets], now)

    def _take_values(
        self, lane: _Lane, block: _Block, lease_id: str, costs: list[int], amounts: list[int], now: float
    ) -> AdmitResult | None:
        """Admit a request costing ``costs`` per window and ``amounts`` per budget from the block, or None
        (closed, or not enough left in it)."""
        if now >= block.until:
            self._close(lane, block)
            return None
        wleft, bleft = block.wleft, block.bleft
        for i, cost in enumerate(costs):
            if cost > wleft[i]:
                return None
        for i, amount in enumerate(amounts):
            if amount > bleft[i]:
                return None
        remaining = []
        wrem = block.wrem
        for i, cost in enumerate(costs):
            wleft[i] -= cost
            remaining.append(wrem[i] + wleft[i])
        held = block.held
        for i, amount in enumerate(amounts):
            bleft[i] -= amount
            held[i] += amount
        block.inflight += 1
        self._local[lease_id] = (block, amounts)
        self.local_admits += 1
        age = now - block.t0
        reset = [max(r - age, 0.001) for r in block.wreset]
        return AdmitResult(
            True, block.bucket, "redis", None, 0, 0.0, remaining, reset, block.spent, block.reserved
        )

    def _close(self, lane: _Lane, block: _Block) -> None:
        if not block.open:
            return
        block.open = False
        if lane.block is block:
            lane.block = None
        if block.inflight == 0:
            self._settle_block(block)
            return
        # what it did not use goes back now, not when its last request ends
        if any(block.wleft):
            bp, wleft = block.plan, block.wleft
            windows = [(op.key, -left) for op, left in zip(bp.windows, wleft, strict=True) if left]
            self._queue_settlement(Settlement(bp.lease_id + "-w", block.bucket, "redis", [], windows, []))
            block.wleft = [0] * len(wleft)
        if any(block.bleft):
            self._spawn(self._shrink(block))

    async def _shrink(self, block: _Block) -> None:
        """Give back the budget a closed block did not use while some of its requests are in flight:
        first reserve what they hold under a lease of their own (so Redis never holds less than is in
        flight), then settle the block's lease with what its settled requests cost. Its last request
        then settles the new lease. On any trouble the block's reservation simply stays until then."""
        bp = block.plan
        tail = AdmitPlan(
            bp.lease_id + "-t",
            bp.lease_ttl,
            [],
            [],
            [
                BudgetOp(b.key, b.limit, held, False, b.expires_at)
                for b, held in zip(bp.budgets, block.held, strict=True)
            ],
        )
        try:
            ok = self._result(await self._enqueue(tail, False)).ok
        except Exception:  # Redis unreachable: keep the block's reservation
            return
        if not ok:
            return
        released = [(b.key, 0, b.expires_at) for b in bp.budgets]
        if block.inflight == 0:  # its last request ended meanwhile: the block settled under its lease
            self._queue_settlement(Settlement(tail.lease_id, block.bucket, "redis", [], [], released))
            return
        spent = [(b.key, cost, b.expires_at) for b, cost in zip(bp.budgets, block.actual, strict=True)]
        self._queue_settlement(Settlement(bp.lease_id, block.bucket, "redis", [], [], spent))
        block.actual = [0] * len(block.actual)
        block.plan = dataclasses.replace(bp, lease_id=tail.lease_id)  # the final settlement settles it
        block.bleft = [0] * len(block.bleft)

    def settle_local(self, item: Settlement) -> bool:
        """Settle a request admitted from a block into its block (no Redis call); False when it was not."""
        found = self._local.pop(item.lease_id, None)
        if found is None:
            return False
        block = found[0]
        widx = block.widx
        deltas = [(i, delta) for key, delta in item.windows if (i := widx.get(key)) is not None]
        self._settle_into(found, deltas, [cost for _, cost, _ in item.budgets])
        return True

    def _settle_into(
        self, found: tuple[_Block, list[int]], deltas: list[tuple[int, int]], costs: list[int]
    ) -> None:
        """A request's settlement into its block: ``deltas`` (window index, token correction), ``costs``
        per budget."""
        block, amounts = found
        held = block.held
        for j, amount in enumerate(amounts):
            held[j] -= amount
        wdelta = block.wdelta
        for i, delta in deltas:
            wdelta[i] += delta
        actual = block.actual
        for i, cost in enumerate(costs):
            if i < len(actual):
                actual[i] += cost
        block.inflight -= 1
        if block.inflight == 0 and not block.open:
            self._settle_block(block)

    def lane(self, plan: AdmitPlan, token_ops: Sequence[int]) -> Lane:
        """Requests of ``plan``'s lane admitted from its open block by their values alone."""
        return _BlockLane(self, plan, token_ops)

    def _settle_block(self, block: _Block) -> None:
        """Give back what the block did not use and charge what its requests cost (one settlement)."""
        bp = block.plan
        windows = [
            (op.key, delta - left)
            for op, delta, left in zip(bp.windows, block.wdelta, block.wleft, strict=True)
            if delta - left
        ]
        budgets = [(b.key, cost, b.expires_at) for b, cost in zip(bp.budgets, block.actual, strict=True)]
        self._queue_settlement(Settlement(bp.lease_id, block.bucket, "redis", [], windows, budgets))

    def _queue_settlement(self, item: Settlement) -> None:
        self._closed.append(item)
        if self._closer is None or self._closer.done():
            self._closer = asyncio.get_running_loop().create_task(self._settle_blocks())

    async def _settle_blocks(self) -> None:
        while self._closed:
            items, self._closed = self._closed, []
            try:
                results = await self._settle(items)
            except (StateUnavailable, RespError, OSError) as exc:
                # reservations expire on their own; spend is re-seeded from the store
                log.warning("could not settle %d block(s) of capacity: %s", len(items), exc)
                continue
            if self.on_block_settled is not None:
                for item, res in zip(items, results, strict=True):
                    self.on_block_settled([key for key, _, _ in item.budgets], res)

    async def close(self) -> None:
        """Close every block and settle those with nothing in flight (shutdown)."""
        for lane in list(self._lanes.values()):
            if lane.block is not None:
                self._close(lane, lane.block)
        if self._closer is not None:
            with suppress(Exception):
                await asyncio.shield(self._closer)


class _BlockLane:
    """A lane of plans with the same ops: a request takes from the lane's open block by its tokens and
    cost (no plan); without an open block (or room in it) it goes by plan (``Blocks.admit``)."""

    __slots__ = ("blocks", "costs", "key", "n_budgets", "token_ops")

    def __init__(self, blocks: Blocks, plan: AdmitPlan, token_ops: Sequence[int]) -> None:
        self.blocks = blocks
        self.key = plan.lane
        self.costs = [op.cost for op in plan.windows]
        self.token_ops = tuple(token_ops)
        self.n_budgets = len(plan.budgets)

    def admit(self, lease_id: str, tokens: int, cost: int, ttl: float) -> AdmitResult | None:
        blocks = self.blocks
        lane = blocks._lanes.get(self.key)
        if lane is None or lane.block is None:
            return None
        costs = self.costs.copy()
        for i in self.token_ops:
            costs[i] = tokens
        now = asyncio.get_running_loop().time()
        res = blocks._take_values(lane, lane.block, lease_id, costs, [cost] * self.n_budgets, now)
        if res is not None:
            blocks._lane(self.key, now)  # counts the admission towards the lane's rate
        return res

    def settle(self, lease_id: str, bucket: int, token_delta: int, cost: int) -> SettleResult | None:
        found = self.blocks._local.pop(lease_id, None)
        if found is None:
            return None  # not admitted from a block: settles in Redis
        deltas = [(i, token_delta) for i in self.token_ops] if token_delta else []
        self.blocks._settle_into(found, deltas, [cost] * self.n_budgets)
        return []  # a block's budget events come when the block settles

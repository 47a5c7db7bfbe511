"""Counters in Redis, shared by every worker and replica.

Admissions issued in the same event-loop iteration (at 32-64 requests in flight, most of them) go out
as ONE script call carrying every plan; the script applies them one after the other, each atomically,
and answers one verdict per plan, so Redis still decides every request exactly as if it had been sent
alone. Settlements are batched the same way (by :class:`~adaptive_gateway.accounts.settle.Settler`).
Plans travel as one JSON argument with every counter key listed once, and verdicts come back as one
JSON string: a few µs of client CPU per request instead of an encoded command and a parsed reply each.

**Blocks.** A busy lane (plans with the same ops: one key's RPM, TPM and budget, say) does not need Redis
for every request: the replica takes a block of ``n`` times the plan's ops in one atomic admission
(counted in Redis's current second, the budget share reserved under the block's own lease id) and hands
it out locally, request by request, until that second ends. Then the block is closed, and once its last
request has settled it is settled as one request: the unused units and tokens go back to their window
bucket, the token corrections of its requests with them, and its reservation is swapped for the actual
cost of its requests. Redis never counts less than what was admitted, so limits and hard budgets hold
across replicas exactly as before; ``n`` is at most the lane's rate here (admissions per second) and at
most the remaining capacity over twice the number of replicas taking blocks, and a lane whose block
would be smaller than ``MIN_BLOCK`` is decided request by request (near a limit, and at low rates,
everything is exact). A block lives less than a second, so limit changes apply within a second. Plans
with concurrency leases are always decided one by one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Hashable
from contextlib import suppress
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson

from adaptive_gateway.state.base import (
    DENY_BUDGET,
    DENY_LEASE,
    DENY_WINDOW,
    AdmitPlan,
    AdmitResult,
    BudgetOp,
    Settlement,
    SettleResult,
    StateUnavailable,
    WindowOp,
)
from adaptive_gateway.state.resp import RespClient, RespError

log = logging.getLogger("adaptive_gateway.state")

_DENIALS = {1: DENY_WINDOW, 2: DENY_LEASE, 3: DENY_BUDGET}
BATCH = 256  # plans or settlements per script call (Redis runs one script at a time)
_BIG = 2**62  # limits beyond are unlimited in practice (and JSON numbers stay 64-bit)
MIN_BLOCK = 8  # a lane whose block would be smaller is decided request by request
MAX_BLOCK = 4096
BLOCK_MARGIN = 0.005  # a block stops admitting this long before Redis's second ends
HOLDERS_KEY = "block-holders"


def _script(name: str) -> str:
    return (resources.files("adaptive_gateway.state") / "lua" / name).read_text(encoding="utf-8")


class _Keys:
    """The counter keys of one script call, each listed once; ops refer to them by 1-based index."""

    __slots__ = ("index", "names", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.index: dict[str, int] = {}
        self.names: list[str] = []

    def one(self, key: str) -> int:
        i = self.index.get(key)
        if i is None:
            self.names.append(self.prefix + key)
            i = self.index[key] = len(self.names)
        return i

    def budget(self, key: str) -> int:
        """A budget's hash; its lease zset is the next key."""
        i = self.index.get(key)
        if i is None:
            full = self.prefix + key
            self.names += (full, full + ":l")
            i = self.index[key] = len(self.names) - 1
        return i


class _Batch:
    """Admissions waiting for the next script call."""

    __slots__ = ("blocks", "futures", "plans")

    def __init__(self) -> None:
        self.plans: list[AdmitPlan] = []
        self.futures: list[asyncio.Future[list[Any]]] = []
        # lease ids of the blocks it carries: then register as a block holder, answer holders and time
        self.blocks: set[str] = set()


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


class RedisCounters:
    """The :class:`~adaptive_gateway.state.base.Counters` backend in Redis. Every key is prefixed."""

    name = "redis"

    def __init__(self, url: str, prefix: str = "agw:", timeout: float = 1.0) -> None:
        self.client = RespClient(url, timeout=timeout)
        self.prefix = prefix
        self._admit = self.client.register_script(_script("admit.lua"))
        self._settle = self.client.register_script(_script("settle.lua"))
        self._batch: _Batch | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls = 0  # admission script calls
        self.plans = 0  # ...and the plans they carried
        self._lanes: dict[Hashable, _Lane] = {}
        self._local: dict[str, _Block] = {}  # lease id of a request admitted from a block -> block
        self._closed: list[Settlement] = []  # blocks to settle
        self._closer: asyncio.Task[None] | None = None
        self._holder = os.urandom(6).hex()
        self._blocks = 0
        self.holders = 2  # replicas taking blocks, as Redis last said (until then: assume two)
        self.block_count = 0  # blocks taken
        self.local_admits = 0  # admissions served from blocks
        # called with each settled block's budget keys and (spent before, after) per budget
        self.on_block_settled: Callable[[list[str], SettleResult], None] | None = None

    # ---- admission ---------------------------------------------------------------------------------

    async def admit(self, plan: AdmitPlan) -> AdmitResult:
        if plan.lane is None or plan.leases:
            return _result(await self._enqueue(plan))
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
        res = _result(await self._enqueue(plan))
        self._view(lane, plan, res, 1)
        return res

    async def _enqueue(self, plan: AdmitPlan, block: bool = False) -> list[Any]:
        loop = asyncio.get_running_loop()
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
            self._spawn(self._admit_batch(batch))
        fut: asyncio.Future[list[Any]] = loop.create_future()
        batch.plans.append(plan)
        batch.futures.append(fut)
        if block:
            batch.blocks.add(plan.lease_id)
        if len(batch.plans) >= BATCH:
            self._batch = None
        return await fut

    # ---- blocks ------------------------------------------------------------------------------------

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
            f"{self._holder}-b{self._blocks}",
            plan.lease_ttl,
            [WindowOp(op.key, op.limit, op.cost * n) for op in plan.windows],
            [],
            [BudgetOp(b.key, b.limit, b.amount * n, b.hard, b.expires_at) for b in plan.budgets],
        )
        t0 = loop.time()
        try:
            raw = await self._enqueue(bplan, block=True)
        except Exception:  # the requests waiting for it go one by one (and see the error there)
            raw = None
        refill, lane.refill = lane.refill, None
        if raw is not None:
            res = _result(raw)
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
                )
                old, lane.block = lane.block, block
                if old is not None:
                    self._close(lane, old)
                loop.call_at(until, self._close, lane, block)
        if refill is not None:
            refill.set_result(None)

    def _take(self, lane: _Lane, block: _Block, plan: AdmitPlan, now: float) -> AdmitResult | None:
        """Admit ``plan`` from the block, or None (closed, or not enough left in it)."""
        if now >= block.until:
            self._close(lane, block)
            return None
        wleft, bleft = block.wleft, block.bleft
        windows, budgets = plan.windows, plan.budgets
        for i, op in enumerate(windows):
            if op.cost > wleft[i]:
                return None
        for i, bop in enumerate(budgets):
            if bop.amount > bleft[i]:
                return None
        remaining = []
        wrem = block.wrem
        for i, op in enumerate(windows):
            wleft[i] -= op.cost
            remaining.append(wrem[i] + wleft[i])
        for i, bop in enumerate(budgets):
            bleft[i] -= bop.amount
        block.inflight += 1
        self._local[plan.lease_id] = block
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
        elif any(block.wleft):  # the units it did not use go back now, not when its last request ends
            bp, wleft = block.plan, block.wleft
            windows = [(op.key, -left) for op, left in zip(bp.windows, wleft, strict=True) if left]
            self._queue_settlement(Settlement(bp.lease_id + "-w", block.bucket, "redis", [], windows, []))
            block.wleft = [0] * len(wleft)

    def settle_local(self, item: Settlement) -> bool:
        """Settle a request admitted from a block into its block (no Redis call); False when it was not."""
        block = self._local.pop(item.lease_id, None)
        if block is None:
            return False
        widx, wdelta = block.widx, block.wdelta
        for key, delta in item.windows:
            i = widx.get(key)
            if i is not None:
                wdelta[i] += delta
        actual = block.actual
        for i, (_, cost, _) in enumerate(item.budgets):
            if i < len(actual):
                actual[i] += cost
        block.inflight -= 1
        if block.inflight == 0 and not block.open:
            self._settle_block(block)
        return True

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
                results = await self.settle(items)
            except (StateUnavailable, RespError, OSError) as exc:
                # reservations expire on their own; spend is re-seeded from the store
                log.warning("could not settle %d block(s) of capacity: %s", len(items), exc)
                continue
            if self.on_block_settled is not None:
                for item, res in zip(items, results, strict=True):
                    self.on_block_settled([key for key, _, _ in item.budgets], res)

    async def close_blocks(self) -> None:
        """Close every block and settle those with nothing in flight (shutdown)."""
        for lane in list(self._lanes.values()):
            if lane.block is not None:
                self._close(lane, lane.block)
        if self._closer is not None:
            with suppress(Exception):
                await asyncio.shield(self._closer)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _admit_wire(self, plans: list[AdmitPlan]) -> tuple[list[str], bytes]:
        keys = _Keys(self.prefix)
        one, budget = keys.one, keys.budget
        wire = []
        for plan in plans:
            windows: list[int] = []
            for w in plan.windows:
                windows += (one(w.key), w.limit if w.limit < _BIG else _BIG, w.cost)
            leases: list[int] = []
            for lop in plan.leases:
                leases += (one(lop.key), lop.limit)
            budgets: list[int] = []
            for b in plan.budgets:
                limit = b.limit if b.limit < _BIG else _BIG
                budgets += (budget(b.key), limit, b.amount, 1 if b.hard else 0, int(b.expires_at))
            wire.append((plan.lease_id, plan.lease_ttl, windows, leases, budgets))
        return keys.names, orjson.dumps(wire)

    async def _admit_batch(self, batch: _Batch) -> None:
        """Send a batch (in the loop iteration after its first admission) and hand out the verdicts."""
        if self._batch is batch:
            self._batch = None
        plans, futures = batch.plans, batch.futures
        try:
            keys, wire = self._admit_wire(plans)
            self.calls += 1
            self.plans += len(plans)
            args: list[Any] = [wire]
            if batch.blocks:
                keys.append(self.prefix + HOLDERS_KEY)
                args.append(self._holder)
            results = orjson.loads(await self.client.evalsha(self._admit, keys, args))
            meta = results.pop() if batch.blocks and results else None
            if len(results) != len(plans):
                raise RespError(f"admission script answered {len(results)} verdicts for {len(plans)} plans")
        except asyncio.CancelledError:  # closing
            for fut in futures:
                if not fut.done():
                    fut.set_exception(StateUnavailable("redis client closed"))
                    fut.exception()
            raise
        except Exception as exc:
            for fut in futures:
                if not fut.done():
                    fut.set_exception(exc)
                    fut.exception()  # its caller may be gone; don't warn about it
            return
        orphans: list[Settlement] = []
        for plan, fut, res in zip(plans, futures, results, strict=True):
            if not fut.done():
                if meta is not None and plan.lease_id in batch.blocks:
                    res.append(meta)  # a block: the replicas taking blocks and Redis's time
                fut.set_result(res)
            elif res[0]:
                # admitted, but the request was cancelled meanwhile: give back its concurrency leases and
                # budget reservations (its window units stay counted, as for any admitted request)
                orphans.append(
                    Settlement(
                        plan.lease_id,
                        res[1],
                        "redis",
                        leases=[lop.key for lop in plan.leases],
                        budgets=[(b.key, 0, b.expires_at) for b in plan.budgets],
                    )
                )
        if orphans:  # (what Redis cannot take back now expires on its own)
            with suppress(StateUnavailable, RespError):
                await self.settle(orphans)

    # ---- settlement --------------------------------------------------------------------------------

    def _settle_wire(self, items: list[Settlement]) -> tuple[list[str], bytes]:
        keys = _Keys(self.prefix)
        one, budget = keys.one, keys.budget
        wire = []
        for s in items:
            windows: list[int] = []
            for key, delta in s.windows:
                windows += (one(key), delta)
            budgets: list[int] = []
            for key, actual, expires_at in s.budgets:
                budgets += (budget(key), actual, int(expires_at))
            wire.append((s.lease_id, s.bucket, [one(k) for k in s.leases], windows, budgets))
        return keys.names, orjson.dumps(wire)

    async def settle(self, items: list[Settlement]) -> list[SettleResult]:
        out: list[SettleResult] = []
        for i in range(0, len(items), BATCH):
            keys, wire = self._settle_wire(items[i : i + BATCH])
            for flat in orjson.loads(await self.client.evalsha(self._settle, keys, [wire])):
                out.append(list(zip(flat[0::2], flat[1::2], strict=True)))
        return out

    # ---- the rest ----------------------------------------------------------------------------------

    async def seed_spend(self, seeds: dict[str, tuple[int, float]]) -> None:
        cmds: list[tuple[Any, ...]] = []
        for key, (amount, expires_at) in seeds.items():
            full = self.prefix + key
            cmds += [("HSETNX", full, "spent", amount), ("EXPIREAT", full, int(expires_at) + 86400)]
        if cmds:
            await self.client.pipeline(cmds)

    async def budget_state(self, keys: list[str]) -> list[tuple[int, int]]:
        if not keys:
            return []
        replies = await self.client.pipeline([("HMGET", self.prefix + k, "spent", "reserved") for k in keys])
        return [(int(r[0] or 0), int(r[1] or 0)) for r in replies]

    async def ping(self) -> tuple[bool, str]:
        t0 = time.perf_counter()
        await self.client.execute("PING")
        return True, f"redis at {self.client.where}, ping {(time.perf_counter() - t0) * 1000:.1f} ms"

    async def close(self) -> None:
        await self.close_blocks()
        await self.client.close()
        for task in list(self._tasks):
            task.cancel()


def _result(raw: list[Any]) -> AdmitResult:
    ok, bucket, denied, index, retry, remaining, reset, spent, reserved = raw[:9]
    if ok:
        return AdmitResult(True, bucket, "redis", None, 0, 0.0, remaining, reset, spent, reserved)
    return AdmitResult(
        False, bucket, "redis", _DENIALS[denied], index - 1, retry, remaining, reset, spent, reserved
    )

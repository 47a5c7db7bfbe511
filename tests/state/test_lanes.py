"""Lanes (``Counters.lane``): a request of a known plan shape admitted and settled from its tokens and
cost alone must leave exactly what the same request admitted and settled by plan leaves."""

from __future__ import annotations

import asyncio

from adaptive_gateway.state import AdmitPlan, BudgetOp, LeaseOp, MemoryCounters, Settlement, WindowOp
from adaptive_gateway.state.fallback import ResilientCounters
from adaptive_gateway.state.redis import RedisCounters
from tests.store.backends import REDIS_URL

FAR = 4_000_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.25

    def __call__(self) -> float:
        return self.now


def shape(tokens: int = 0, cost: int = 0, lease: str = "") -> AdmitPlan:
    """RPM 10, TPM 1000 (window 1 counts tokens), a concurrency limit of 3, a hard budget of 10,000."""
    return AdmitPlan(
        lease,
        600.0,
        [WindowOp("w:k:a:r", 10, 1), WindowOp("w:k:a:t", 1000, tokens)],
        [LeaseOp("c:k:a", 3)],
        [BudgetOp("b:k:a:all", 10_000, cost, True, FAR)],
        lane="a",
    )


def view(res: object) -> tuple[object, ...]:
    return tuple(
        getattr(res, name)
        for name in (
            "ok",
            "bucket",
            "denied",
            "index",
            "retry_after",
            "remaining",
            "reset",
            "spent",
            "reserved",
        )
    )


async def test_a_memory_lane_decides_and_settles_as_plans_do() -> None:
    clocks = Clock(), Clock()
    by_plan, by_lane = MemoryCounters(clocks[0]), MemoryCounters(clocks[1])
    lane = by_lane.lane(shape(), [1])
    # (tokens, cost) to admit, or None to settle the oldest admitted with half its tokens and cost
    steps = [(100, 1000), (200, 2000), (300, 3000), (10, 10), None, (100, 9000), (500, 100), (400, 100)]
    steps += [None, None, (1, 1)]
    held: list[tuple[str, int, int, int]] = []
    denied = []
    for i, step in enumerate(steps):
        for c in clocks:
            c.now += 0.4
        if step is None:
            lid, bucket, tokens, cost = held.pop(0)
            item = Settlement(lid, bucket, "memory", ["c:k:a"], [("w:k:a:t", -tokens // 2)], [])
            item.budgets.append(("b:k:a:all", cost // 2, FAR))
            assert lane.settle(lid, bucket, -tokens // 2, cost // 2) == by_plan.settle_now(item)
            continue
        tokens, cost = step
        want = by_plan.admit_now(shape(tokens, cost, f"l{i}"))
        got = lane.admit(f"l{i}", tokens, cost, 600.0)
        assert got is not None and view(got) == view(want), i
        if want.ok:
            held.append((f"l{i}", want.bucket, tokens, cost))
        else:
            denied.append((want.denied, want.index))
    assert denied == [("lease", 0), ("budget", 0), ("window", 1)]
    assert await by_lane.budget_state(["b:k:a:all"]) == await by_plan.budget_state(["b:k:a:all"])
    probe = AdmitPlan("p", 1, [WindowOp("w:k:a:r", 10, 0), WindowOp("w:k:a:t", 1000, 0)])
    assert view(by_lane.admit_now(probe)) == view(by_plan.admit_now(probe))


async def test_a_memory_lane_counts_in_the_budgets_kept_after_a_clean_up() -> None:
    clock = Clock()
    counters = MemoryCounters(clock)
    budget = BudgetOp("b:k:a:2020-01", 100, 0, True, 1_000.0)  # a period long over
    lane = counters.lane(AdmitPlan("", 600.0, [], [], [budget], lane="old"), [])
    for i in range(300):  # enough budgets for the periodic clean-up to look at them
        counters.settle_now(Settlement(f"s{i}", 0, "memory", [], [], [(f"b:k:{i}:2020-01", 1, 1_000.0)]))
    for i in range(4096):
        counters.settle_now(Settlement(f"t{i}", 0, "memory", [], [], []))
    assert counters.generation == 1, "old budgets forgotten"
    res = lane.admit("x", 0, 60, 600.0)
    assert res is not None and res.ok
    assert await counters.budget_state([budget.key]) == [(0, 60)], "reserved in the budget counted now"


async def test_a_redis_lane_takes_from_open_blocks_and_settles_into_them(redis_prefix: str) -> None:
    counters = RedisCounters(REDIS_URL, redis_prefix)
    win, budget = WindowOp("w:k:l:t", 10_000_000, 300), BudgetOp("b:k:l:all", 10**12, 1000, True, FAR)
    template = AdmitPlan("", 600.0, [WindowOp(win.key, win.limit, 0)], [], [budget], lane="l")
    lane = counters.lane(template, [0])
    assert lane is not None
    assert counters.lane(AdmitPlan("", 1.0, [], [LeaseOp("c", 1)], [], lane="l"), []) is None, "leases: Redis"
    try:
        assert lane.admit("first", 300, 1000, 600.0) is None, "no block yet: by plan"
        admitted: list[tuple[str, int]] = []
        for r in range(6):  # plans of the lane make Redis hand out blocks; then the lane takes from them
            plans = [AdmitPlan(f"p{r}-{i}", 600.0, [win], [], [budget], lane="l") for i in range(40)]
            results = await asyncio.gather(*[counters.admit(p) for p in plans])
            admitted += [(p.lease_id, res.bucket) for p, res in zip(plans, results, strict=True) if res.ok]
            for i in range(10):
                res = lane.admit(f"q{r}-{i}", 300, 1000, 600.0)
                if res is not None:
                    assert res.ok and res.backend == "redis"
                    admitted.append((f"q{r}-{i}", -1))
        from_lane = [lid for lid, _ in admitted if lid.startswith("q")]
        assert from_lane, "the lane admitted from an open block"
        for lid, bucket in admitted:
            if lid.startswith("q"):
                assert lane.settle(lid, bucket, -200, 700) == []
            else:
                item = Settlement(lid, bucket, "redis", [], [(win.key, -200)], [(budget.key, 700, FAR)])
                if not counters.settle_local(item):
                    await counters.settle([item])
        assert lane.settle("never-admitted", 0, 0, 1) is None
        await asyncio.sleep(1.1)  # the last block closes and settles
        assert await counters.budget_state([budget.key]) == [(len(admitted) * 700, 0)]
        probe = await counters.admit(AdmitPlan("probe", 1.0, [WindowOp(win.key, win.limit, 0)]))
        assert probe.remaining == [10_000_000 - len(admitted) * 100], "tokens corrected to actual usage"
    finally:
        await counters.close()


async def test_a_redis_lane_stands_aside_while_redis_is_down(redis_prefix: str) -> None:
    counters = ResilientCounters(RedisCounters(REDIS_URL, redis_prefix))
    template = AdmitPlan("", 600.0, [WindowOp("w:k:d:r", 100, 1)], [], [], lane="d")
    lane = counters.lane(template, [])
    try:
        assert lane is not None
        counters.degraded_since = 1.0
        assert lane.admit("x", 0, 0, 600.0) is None, "the fallback decides by plan"
    finally:
        counters.degraded_since = None
        await counters.close()

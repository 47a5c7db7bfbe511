"""Counter semantics, identical for the in-process and the Redis backend: all-or-nothing plans,
sliding windows, concurrency leases, budget reservations and idempotent settlement."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adaptive_gateway.state import (
    AdmitPlan,
    BudgetOp,
    Counters,
    LeaseOp,
    MemoryCounters,
    Settlement,
    StateUnavailable,
    WindowOp,
)
from adaptive_gateway.state.redis import RedisCounters
from tests.store.backends import REDIS_URL
from tests.support.gateway import free_port

FAR = 4_000_000_000.0  # a budget period that ends far in the future


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    prefix = request.getfixturevalue("redis_prefix")
    backend = RedisCounters(REDIS_URL, prefix)
    try:
        yield backend
    finally:
        await backend.close()


def plan(lease: str, *, windows=(), leases=(), budgets=(), ttl: float = 600) -> AdmitPlan:  # type: ignore[no-untyped-def]
    return AdmitPlan(lease, ttl, list(windows), list(leases), list(budgets))


async def test_window_admits_up_to_the_limit_and_reports_remaining(counters: Counters) -> None:
    results = [await counters.admit(plan(f"r{i}", windows=[WindowOp("w:k:1:r", 3, 1)])) for i in range(4)]
    assert [r.ok for r in results] == [True, True, True, False]
    assert [r.remaining for r in results[:3]] == [[2], [1], [0]]
    denied = results[3]
    assert denied.denied == "window" and denied.index == 0
    assert 0 < denied.retry_after <= 60
    assert all(0 < r.reset[0] <= 60 for r in results[:3])


async def test_a_refused_plan_takes_nothing(counters: Counters) -> None:
    tight = WindowOp("w:t:x:r", 1, 1)
    assert (await counters.admit(plan("a", windows=[tight]))).ok
    loose = WindowOp("w:k:x:r", 10, 1)
    budget = BudgetOp("b:k:x:all", 1000, 100, True, FAR)
    res = await counters.admit(
        plan("b", windows=[loose, tight], leases=[LeaseOp("c:k:x", 5)], budgets=[budget])
    )
    assert not res.ok and res.denied == "window" and res.index == 1
    ok = await counters.admit(plan("c", windows=[loose], leases=[LeaseOp("c:k:x", 1)], budgets=[budget]))
    assert ok.ok and ok.remaining == [9], "the refused plan must not have counted"
    assert ok.spent == [0] and ok.reserved == [0]


async def test_token_window_refuses_a_request_larger_than_the_limit(counters: Counters) -> None:
    res = await counters.admit(plan("a", windows=[WindowOp("w:k:t", 100, 101)]))
    assert not res.ok and res.retry_after == 60


async def test_concurrency_leases_are_released_at_settlement(counters: Counters) -> None:
    lease = LeaseOp("c:k:1", 2)
    a = await counters.admit(plan("a", leases=[lease]))
    b = await counters.admit(plan("b", leases=[lease]))
    c = await counters.admit(plan("c", leases=[lease]))
    assert a.ok and b.ok and not c.ok and c.denied == "lease"
    await counters.settle([Settlement("a", a.bucket, a.backend, leases=["c:k:1"])])
    assert (await counters.admit(plan("d", leases=[lease]))).ok


async def test_leases_of_a_dead_replica_expire(counters: Counters) -> None:
    lease = LeaseOp("c:k:2", 1)
    assert (await counters.admit(plan("a", leases=[lease], ttl=0.2))).ok
    assert not (await counters.admit(plan("b", leases=[lease]))).ok
    await asyncio.sleep(0.3)
    assert (await counters.admit(plan("c", leases=[lease]))).ok


async def test_hard_budget_counts_reservations_and_settles_actual_cost(counters: Counters) -> None:
    key = "b:k:1:d20250101"
    first = await counters.admit(plan("a", budgets=[BudgetOp(key, 1000, 600, True, FAR)]))
    assert first.ok and first.spent == [0] and first.reserved == [0]
    second = await counters.admit(plan("b", budgets=[BudgetOp(key, 1000, 600, True, FAR)]))
    assert not second.ok and second.denied == "budget"
    assert second.spent == [0] and second.reserved == [600], "refusal reports what is reserved"
    settled = await counters.settle([Settlement("a", first.bucket, first.backend, budgets=[(key, 250, FAR)])])
    assert settled == [[(0, 250)]]
    assert await counters.budget_state([key]) == [(250, 0)]
    assert (await counters.admit(plan("c", budgets=[BudgetOp(key, 1000, 600, True, FAR)]))).ok


async def test_settlement_is_idempotent_for_reservations(counters: Counters) -> None:
    key = "b:k:2:all"
    res = await counters.admit(plan("a", budgets=[BudgetOp(key, 10_000, 500, True, FAR)]))
    s = Settlement("a", res.bucket, res.backend, budgets=[(key, 100, FAR)])
    await counters.settle([s])
    await counters.settle([Settlement("a", res.bucket, res.backend, budgets=[(key, 0, FAR)])])
    assert await counters.budget_state([key]) == [(100, 0)], "the reservation is released once"


async def test_soft_budget_never_refuses(counters: Counters) -> None:
    key = "b:k:3:all"
    for lease in ("a", "b", "c"):
        assert (await counters.admit(plan(lease, budgets=[BudgetOp(key, 100, 80, False, FAR)]))).ok


async def test_token_window_is_corrected_by_actual_usage(counters: Counters) -> None:
    win = "w:k:9:t"
    res = await counters.admit(plan("a", windows=[WindowOp(win, 1000, 900)]))
    assert res.ok and res.remaining == [100]
    await counters.settle([Settlement("a", res.bucket, res.backend, windows=[(win, 20 - 900)])])
    after = await counters.admit(plan("b", windows=[WindowOp(win, 1000, 1)]))
    assert after.remaining == [1000 - 20 - 1]


async def test_seed_sets_spend_only_where_there_is_none(counters: Counters) -> None:
    await counters.seed_spend({"b:k:s:all": (700, FAR)})
    await counters.seed_spend({"b:k:s:all": (5, FAR)})
    res = await counters.admit(plan("a", budgets=[BudgetOp("b:k:s:all", 1000, 400, True, FAR)]))
    assert not res.ok and res.spent == [700]


async def test_concurrent_admissions_never_exceed_limits(counters: Counters) -> None:
    budget = BudgetOp("b:k:c:all", 10_000, 300, True, FAR)

    async def one(i: int) -> bool:
        res = await counters.admit(plan(f"r{i}", windows=[WindowOp("w:k:c:r", 25, 1)], budgets=[budget]))
        return res.ok

    admitted = sum(await asyncio.gather(*[one(i) for i in range(80)]))
    assert admitted == 25
    ok, detail = await counters.ping()
    assert ok and detail


async def test_sliding_window_frees_units_sixty_seconds_after_their_second() -> None:
    now = [1000.25]
    mem = MemoryCounters(clock=lambda: now[0])
    op = WindowOp("w:k:s:r", 3, 1)
    for t in (1000.25, 1010.5, 1020.75):
        now[0] = t
        assert (await mem.admit(plan(str(t), windows=[op]))).ok
    now[0] = 1030.0
    denied = await mem.admit(plan("x", windows=[op]))
    assert not denied.ok and denied.retry_after == pytest.approx(1060 - 1030.0)
    now[0] = 1059.9
    assert not (await mem.admit(plan("y", windows=[op]))).ok, "still inside the window"
    now[0] = 1060.0
    ok = await mem.admit(plan("z", windows=[op]))
    assert ok.ok and ok.remaining == [0] and ok.reset == [pytest.approx(1070 - 1060.0)]


async def test_plans_issued_together_are_decided_one_by_one(counters: Counters) -> None:
    """Admissions of one loop iteration (one script call in Redis): each plan in order, all or nothing."""
    budget = "b:k:t:all"
    win = WindowOp("w:k:t:r", 3, 1)
    plans = [
        plan("a", windows=[win], budgets=[BudgetOp(budget, 1000, 600, True, FAR)]),
        plan("b", windows=[win], budgets=[BudgetOp(budget, 1000, 600, True, FAR)]),  # over the budget
        plan("c", windows=[win], leases=[LeaseOp("c:k:t", 1)]),
        plan("d", windows=[win], leases=[LeaseOp("c:k:t", 1)]),  # the one lease is taken by "c"
        plan("e", windows=[win]),
        plan("f", windows=[win]),  # the window is full
    ]
    results = await asyncio.gather(*[counters.admit(p) for p in plans])
    assert [r.ok for r in results] == [True, False, True, False, True, False]
    assert [r.remaining for r in results if r.ok] == [[2], [1], [0]], "refused plans took nothing"
    assert (results[1].denied, results[1].spent, results[1].reserved) == ("budget", [0], [600])
    assert results[3].denied == "lease" and results[5].denied == "window"
    assert await counters.budget_state([budget]) == [(0, 600)]


async def test_settlements_of_one_batch_apply_in_order(counters: Counters) -> None:
    key, win = "b:k:o:all", "w:k:o:t"
    ops = [WindowOp(win, 1000, 100)]
    admitted = [
        await counters.admit(plan(lid, windows=ops, budgets=[BudgetOp(key, 10_000, 500, True, FAR)]))
        for lid in ("a", "b")
    ]
    items = [
        Settlement(lid, res.bucket, res.backend, windows=[(win, -90)], budgets=[(key, cost, FAR)])
        for lid, res, cost in zip(("a", "b"), admitted, (300, 200), strict=True)
    ]
    items.append(Settlement("a", admitted[0].bucket, admitted[0].backend, budgets=[(key, 0, FAR)]))  # again
    assert await counters.settle(items) == [[(0, 300)], [(300, 500)], [(500, 500)]]
    assert await counters.budget_state([key]) == [(500, 0)], "each reservation released once"
    after = await counters.admit(plan("c", windows=[WindowOp(win, 1000, 1)]))
    assert after.remaining == [1000 - 2 * 10 - 1], "token windows corrected to actual usage"


async def test_two_replicas_admit_exactly_the_limit(redis_prefix: str) -> None:
    """Two connections (as two replicas would have), many admissions in flight on each."""
    replicas = [RedisCounters(REDIS_URL, redis_prefix) for _ in range(2)]
    budget = BudgetOp("b:k:r:all", 40 * 250, 250, True, FAR)
    try:

        async def one(i: int) -> bool:
            ops = [WindowOp("w:k:r:r", 25, 1)]
            return (await replicas[i % 2].admit(plan(f"r{i}", windows=ops))).ok

        async def spend(i: int) -> bool:
            return (await replicas[i % 2].admit(plan(f"s{i}", budgets=[budget]))).ok

        assert sum(await asyncio.gather(*[one(i) for i in range(120)])) == 25
        assert sum(await asyncio.gather(*[spend(i) for i in range(120)])) == 40
        assert await replicas[0].budget_state([budget.key]) == [(0, 40 * 250)]
        assert all(r.calls < r.plans for r in replicas), "admissions were sent in batches"
    finally:
        for r in replicas:
            await r.close()


async def test_an_admission_cancelled_in_flight_gives_back_what_it_took(redis_prefix: str) -> None:
    counters = RedisCounters(REDIS_URL, redis_prefix)
    lease, budget = LeaseOp("c:k:x", 1), BudgetOp("b:k:x:all", 1000, 700, True, FAR)
    try:
        waiting = asyncio.ensure_future(counters.admit(plan("a", leases=[lease], budgets=[budget])))
        await asyncio.sleep(0)  # queued in the batch, not yet answered
        waiting.cancel()
        for i in range(100):  # refused while "a" holds the lease and the reservation
            res = await counters.admit(plan(f"b{i}", leases=[lease], budgets=[budget]))
            if res.ok:
                break
            await asyncio.sleep(0.01)
        assert waiting.cancelled()
        assert res.ok, "the cancelled admission gave back its lease and its reservation"
        assert await counters.budget_state([budget.key]) == [(0, 700)], "only the new reservation"
    finally:
        await counters.close()


async def test_unreachable_redis_fails_every_admission_of_the_batch() -> None:
    port = free_port()
    counters = RedisCounters(f"redis://127.0.0.1:{port}/0", "agwt:", timeout=0.5)
    try:
        results = await asyncio.gather(
            *[counters.admit(plan(f"r{i}", windows=[WindowOp("w:x", 5, 1)])) for i in range(3)],
            return_exceptions=True,
        )
        assert all(isinstance(r, StateUnavailable) for r in results)
    finally:
        await counters.close()


async def test_blocks_never_admit_beyond_a_limit_and_give_back_what_they_did_not_use(
    redis_prefix: str,
) -> None:
    """Two replicas admitting one lane from blocks of capacity: never more than the RPM limit or the hard
    budget in total, and what a block did not use is back in Redis within a second."""
    replicas = [RedisCounters(REDIS_URL, redis_prefix) for _ in range(2)]
    rpm, budget = WindowOp("w:k:blk:r", 600, 1), BudgetOp("b:k:blk:all", 500 * 100, 100, True, FAR)
    seq = iter(range(1_000_000))

    async def one(i: int) -> bool:
        p = plan(f"l{next(seq)}", windows=[rpm], budgets=[budget])
        p.lane = "blk"
        return (await replicas[i % 2].admit(p)).ok

    try:
        admitted = 0
        for _ in range(8):  # waves: each replica learns the lane's rate and takes blocks
            admitted += sum(await asyncio.gather(*[one(i) for i in range(100)]))
        assert admitted <= 500, "the hard budget binds first, blocks included"
        assert sum(r.local_admits for r in replicas) > 0, "admitted from blocks"
        spent, reserved = (await replicas[0].budget_state([budget.key]))[0]
        assert spent == 0 and reserved >= admitted * 100

        await asyncio.sleep(1.1)  # every block closed: its unused share went back
        spent, reserved = (await replicas[0].budget_state([budget.key]))[0]
        assert reserved == admitted * 100, "in flight: exactly the admitted requests' reservations"
        while await one(0):
            admitted += 1
        assert admitted == 500, "what the blocks did not use was admitted afterwards"
        probe = plan("probe", windows=[WindowOp(rpm.key, rpm.limit, 0)])
        assert (await replicas[1].admit(probe)).remaining == [600 - 500], "the window counts what ran"
    finally:
        for r in replicas:
            await r.close()


async def _admit_lane(
    counters: RedisCounters,
    lane: str,
    windows: list[WindowOp],
    budgets: list[BudgetOp],
    *,
    rounds: int,
    per_round: int,
) -> list[tuple[AdmitPlan, int]]:
    """``rounds`` bursts of ``per_round`` concurrent plans of one lane; the admitted ones and buckets."""
    admitted: list[tuple[AdmitPlan, int]] = []
    for r in range(rounds):
        plans = [plan(f"{lane}{r}-{i}", windows=windows, budgets=budgets) for i in range(per_round)]
        for p in plans:
            p.lane = lane
        results = await asyncio.gather(*[counters.admit(p) for p in plans])
        admitted += [(p, res.bucket) for p, res in zip(plans, results, strict=True) if res.ok]
    return admitted


async def test_requests_admitted_from_a_block_settle_with_it(redis_prefix: str) -> None:
    counters = RedisCounters(REDIS_URL, redis_prefix)
    win, budget = WindowOp("w:k:s:t", 10_000_000, 300), BudgetOp("b:k:s:all", 10**12, 1000, True, FAR)
    try:
        admitted = await _admit_lane(counters, "s", [win], [budget], rounds=4, per_round=50)
        assert len(admitted) == 200 and counters.local_admits > 0
        items = [
            Settlement(p.lease_id, b, "redis", [], [(win.key, -200)], [(budget.key, 700, FAR)])
            for p, b in admitted
        ]
        local = [counters.settle_local(s) for s in items]
        await counters.settle([s for s, done in zip(items, local, strict=True) if not done])
        await asyncio.sleep(1.1)  # the last block closes and settles
        assert await counters.budget_state([budget.key]) == [(200 * 700, 0)]
        probe = await counters.admit(plan("probe", windows=[WindowOp(win.key, win.limit, 0)]))
        assert probe.remaining == [10_000_000 - 200 * 100], "tokens corrected to actual usage"
    finally:
        await counters.close()


async def test_a_closed_block_gives_back_unused_units_while_a_request_is_still_in_flight(
    redis_prefix: str,
) -> None:
    counters = RedisCounters(REDIS_URL, redis_prefix)
    rpm, budget = WindowOp("w:k:f:r", 100_000, 1), BudgetOp("b:k:f:all", 10**12, 1000, True, FAR)
    try:
        admitted = await _admit_lane(counters, "f", [rpm], [budget], rounds=3, per_round=40)
        assert len(admitted) == 120 and counters.local_admits > 0
        items = [Settlement(p.lease_id, b, "redis", [], [], [(budget.key, 600, FAR)]) for p, b in admitted]
        slow = items.pop()  # still in flight when its block closes
        local = [counters.settle_local(s) for s in items]
        await counters.settle([s for s, done in zip(items, local, strict=True) if not done])
        await asyncio.sleep(1.1)
        probe = await counters.admit(plan("probe", windows=[WindowOp(rpm.key, rpm.limit, 0)]))
        assert probe.remaining == [100_000 - 120], "the unused units are back, the request in flight counts"
        assert await counters.budget_state([budget.key]) == [(119 * 600, 1000)], (
            "the unused budget is back too: only the request in flight still holds its reservation"
        )
        if not counters.settle_local(slow):
            await counters.settle([slow])
        await asyncio.sleep(0.1)
        assert await counters.budget_state([budget.key]) == [(120 * 600, 0)]
    finally:
        await counters.close()

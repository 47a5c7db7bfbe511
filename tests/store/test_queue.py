"""The write-behind queue: batched inserts with daily rollups and spend, rows kept when the store
fails, everything written at stop."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import fields
from pathlib import Path

from sqlalchemy import func, select

from adaptive_gateway.store.db import Store
from adaptive_gateway.store.models import Spend, Usage, UsageDaily, WebhookDelivery, to_epoch
from adaptive_gateway.store.queue import (
    DAILY_COLUMNS,
    SPEND_COLUMNS,
    UsageRow,
    WriteBehind,
    rollups,
    write_usage,
)

DAY = dt.datetime(2025, 3, 4, 10, 0, 0)
USAGE_FIELDS = [f.name for f in fields(UsageRow)]


def row(
    i: int,
    *,
    key: str | None = "key_a",
    tenant: str | None = "ten_a",
    model: str = "m1",
    at: dt.datetime = DAY,
    cost: int = 1000,
    status: int = 200,
) -> UsageRow:
    return UsageRow(
        f"req-{i}",
        to_epoch(at),
        key,
        tenant,
        model,
        "prov",
        "m1#0:prov/up",
        "openai_chat",
        status,
        10,
        5,
        2,
        cost,
        12.5,
    )


def test_rollups_aggregate_per_primary_key() -> None:
    rows = [
        row(1),
        row(2, status=500, cost=0),
        row(3, model="m2"),
        row(4, at=DAY + dt.timedelta(days=1)),
        row(5, key=None, tenant=None),
    ]
    daily_rows, spend_rows = rollups(rows)
    daily = [dict(zip(DAILY_COLUMNS, d, strict=True)) for d in daily_rows]
    spend = [dict(zip(SPEND_COLUMNS, s, strict=True)) for s in spend_rows]
    by = {(d["day"], d["key_id"], d["model"]): d for d in daily}
    first = by[(DAY.date(), "key_a", "m1")]
    assert first["requests"] == 2 and first["errors"] == 1 and first["cost_nano"] == 1000
    assert first["input_tokens"] == 20 and first["cached_input_tokens"] == 4
    assert (DAY.date(), "", "m1") in by, "master-key traffic rolls up under the empty key"
    spent = {(s["scope"], s["scope_id"], s["day"]): s["cost_nano"] for s in spend}
    assert spent[("key", "key_a", DAY.date())] == 2000
    assert spent[("tenant", "ten_a", DAY.date())] == 2000
    assert not any(s["scope_id"] == "" for s in spend)


async def test_batches_upsert_rollups_across_flushes(migrated: Store) -> None:
    queue = WriteBehind(migrated, interval=60)
    for i in range(30):
        queue.add_usage(row(i))
    assert await queue.flush()
    for i in range(30, 50):
        queue.add_usage(row(i, cost=500))
    queue.add_delivery(
        {
            "id": "whd_1",
            "event": "webhook.test",
            "subject": None,
            "url": "http://x",
            "payload": "{}",
            "status": "delivered",
            "attempts": 1,
            "response_status": 200,
            "error": None,
            "created_at": DAY,
            "finished_at": DAY,
        }
    )
    await queue.stop()
    async with migrated.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Usage))).scalar() == 50
        daily = (await conn.execute(select(UsageDaily.requests, UsageDaily.cost_nano))).all()
        assert daily == [(50, 30 * 1000 + 20 * 500)]
        spend = dict((await conn.execute(select(Spend.scope, Spend.cost_nano))).all())
        assert spend == {"key": 40_000, "tenant": 40_000}
        assert (await conn.execute(select(func.count()).select_from(WebhookDelivery))).scalar() == 1
    assert queue.written == 50 and queue.pending == 0


async def test_a_large_batch_keeps_every_row_and_value(migrated: Store) -> None:
    """More rows than one SQLite statement carries (queue._SQLITE_ROWS): every row lands once, with
    its own values, in order of its columns (and None / error text kept)."""
    queue = WriteBehind(migrated, interval=60)
    n = 1_234
    for i in range(n):
        r = row(i, key=f"key_{i % 7}" if i % 5 else None, cost=i, status=500 if i % 97 == 0 else 200)
        r.latency_ms, r.input_tokens = i / 4, i
        r.error = f'it\'s "{i}"; DROP TABLE usage;--' if r.status == 500 else None
        queue.add_usage(r)
    assert await queue.flush()
    async with migrated.engine.connect() as conn:
        got = (
            await conn.execute(
                select(
                    Usage.request_id,
                    Usage.key_id,
                    Usage.cost_nano,
                    Usage.latency_ms,
                    Usage.input_tokens,
                    Usage.status,
                    Usage.error,
                    Usage.created_at,
                )
            )
        ).all()
    assert len(got) == n
    by_id = {g[0]: g for g in got}
    for i in (0, 1, 5, 97, 499, 500, 501, 999, 1000, n - 1):
        _, key, cost, latency, tokens, status, error, at = by_id[f"req-{i}"]
        assert (key, cost, latency, tokens) == (f"key_{i % 7}" if i % 5 else None, i, i / 4, i)
        assert status == (500 if i % 97 == 0 else 200)
        assert error == (f'it\'s "{i}"; DROP TABLE usage;--' if i % 97 == 0 else None)
        assert at == DAY
    assert sum(g[2] for g in got) == n * (n - 1) // 2


async def test_every_column_of_every_row_lands_whatever_group_it_is_in(migrated: Store) -> None:
    """SQLite binds the values a large group of rows shares once per statement and a small group's row
    by row (queue._sqlite_rows): both ways, and across the statement sizes a batch is cut into, each row
    is stored exactly as queued, column by column."""
    queue = WriteBehind(migrated, interval=60)
    rows = []
    for i in range(777):
        big = i % 3 != 0  # two large groups (key_a / key_b) and many small ones
        r = UsageRow(
            f"req-{i}",
            to_epoch(DAY) + i * 0.001234,
            (f"key_{'ab'[i % 2]}" if big else f"key_{i}") if i % 11 else None,
            "ten_a" if big else None,
            "m1" if big else f"m{i % 4}",
            "prov" if big else None,
            "m1#0:prov/up" if big else None,
            "openai_chat",
            200 if big else 400 + i % 5,
            i,
            2 * i,
            i % 3,
            1000 * i,
            i / 8,
            estimated=not big and i % 2 == 0,
            error=None if big else f"bad {i}: 'quoted' \"too\"",
        )
        rows.append(r)
        queue.add_usage(r)
    assert await queue.flush()
    columns = [getattr(Usage, c) for c in USAGE_FIELDS]
    async with migrated.engine.connect() as conn:
        got = {g[0]: tuple(g) for g in (await conn.execute(select(*columns))).all()}
    assert len(got) == len(rows)
    for r in rows:
        want = tuple(getattr(r, c) for c in USAGE_FIELDS)
        at = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=round(r.created_at * 1e6))
        assert got[r.request_id] == (*want[:1], at, *want[2:]), r.request_id


async def test_a_full_batch_is_written_without_waiting_for_the_interval(migrated: Store) -> None:
    queue = WriteBehind(migrated, interval=60, batch_size=10)
    queue.start()
    for i in range(10):
        queue.add_usage(row(i))
    for _ in range(100):
        if queue.written == 10:
            break
        await asyncio.sleep(0.05)
    assert queue.written == 10
    await queue.stop()


async def test_rows_survive_a_failing_store(tmp_path: Path) -> None:
    broken = Store(f"sqlite:///{tmp_path / 'not-migrated.db'}")  # no tables: every insert fails
    queue = WriteBehind(broken, interval=60)
    queue.add_usage(row(1))
    assert not await queue.flush()
    assert queue.pending == 1 and queue.failures == 1 and "usage" in (queue.last_error or "")
    await broken.close()
    from adaptive_gateway.store import migrate

    fixed = Store(broken.url)
    await migrate.upgrade(fixed)
    queue.store = fixed
    await queue.stop()
    async with fixed.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Usage))).scalar() == 1
    await fixed.close()


async def test_times_round_trip_and_compare_at_the_microsecond(migrated: Store) -> None:
    """A raw row's time reads back as the instant it was queued (SQLite stores it as text: whole seconds
    must not lose their ``.000000``, or a range starting exactly there would miss the row)."""
    whole = DAY + dt.timedelta(hours=3)
    times = [
        whole,
        whole + dt.timedelta(microseconds=1),
        whole + dt.timedelta(seconds=59, microseconds=999_999),  # the last microsecond of a minute
        DAY + dt.timedelta(days=1, microseconds=250_000),
    ]
    rows = [row(i, at=at) for i, at in enumerate(times)]
    async with migrated.engine.begin() as conn:
        await write_usage(conn, migrated.dialect, rows)
    async with migrated.engine.connect() as conn:
        stored = (await conn.execute(select(Usage.request_id, Usage.created_at).order_by(Usage.id))).all()
        assert [(r, at) for r, at in stored] == [(f"req-{i}", at) for i, at in enumerate(times)]
        for i, at in enumerate(times):
            found = await conn.scalar(
                select(Usage.request_id).where(Usage.created_at >= at, Usage.created_at <= at)
            )
            assert found == f"req-{i}", at
        daily = {d: n for d, n in (await conn.execute(select(UsageDaily.day, UsageDaily.requests))).all()}
        assert daily == {DAY.date(): 3, (DAY + dt.timedelta(days=1)).date(): 1}

"""Usage reports: whole days from rollups, partial days from raw rows, same answer as raw rows."""

from __future__ import annotations

import datetime as dt

import pytest

from adaptive_gateway.store.db import Store
from adaptive_gateway.store.models import from_epoch, to_epoch
from adaptive_gateway.store.queue import UsageRow, write_usage
from adaptive_gateway.store.usage import prune_usage, rebuild_rollups, spend_since, usage_report

START = dt.datetime(2025, 5, 1)


def rows() -> list[UsageRow]:
    out = []
    for h in range(0, 24 * 5, 5):  # every 5 hours for 5 days
        at = START + dt.timedelta(hours=h, minutes=7)
        for i, (key, tenant, model) in enumerate(
            [("k1", "t1", "small"), ("k2", "t1", "big"), ("k3", None, "small")]
        ):
            out.append(
                UsageRow(
                    f"r{h}-{i}",
                    to_epoch(at),
                    key,
                    tenant,
                    model,
                    "p" if model == "small" else "q",
                    None,
                    "openai_chat",
                    200 if h % 3 else 429,
                    100,
                    10,
                    0,
                    (i + 1) * 1000,
                    1.0,
                )
            )
    return out


def expected(group: str, lo: dt.datetime, hi: dt.datetime) -> dict[str, tuple[int, int]]:
    attr = {"key": "key_id", "tenant": "tenant_id", "model": "model", "provider": "provider"}
    out: dict[str, tuple[int, int]] = {}
    for r in rows():
        at = from_epoch(r.created_at)
        if lo <= at < hi:
            name = at.date().isoformat() if group == "day" else getattr(r, attr[group]) or ""
            n, c = out.get(name, (0, 0))
            out[name] = (n + 1, c + r.cost_nano)
    return out


RANGES = [
    (START, START + dt.timedelta(days=5)),  # whole days only
    (START + dt.timedelta(hours=3), START + dt.timedelta(days=3, hours=11)),  # partial edges
    (START + dt.timedelta(hours=4), START + dt.timedelta(hours=16)),  # inside one day
]


async def test_report_matches_raw_rows(migrated: Store) -> None:
    async with migrated.engine.begin() as conn:
        await write_usage(conn, migrated.dialect, rows())
        for group in ("key", "tenant", "model", "provider", "day"):
            for lo, hi in RANGES:
                report = await usage_report(conn, group, lo, hi)
                got = {r[group]: (r["requests"], round(r["cost_usd"] * 1e9)) for r in report}
                assert got == expected(group, lo, hi), (group, lo, hi)
                costs = [r["cost_usd"] for r in report]
                assert costs == sorted(costs, reverse=True)


async def test_filters_spend_rebuild_and_retention(migrated: Store) -> None:
    async with migrated.engine.begin() as conn:
        await write_usage(conn, migrated.dialect, rows())
        end = START + dt.timedelta(days=5)
        only = await usage_report(conn, "model", START, end, {"tenant": "t1", "key": "k2"})
        assert [r["model"] for r in only] == ["big"]
        before = await usage_report(conn, "key", START, end)
        await rebuild_rollups(conn, START.date(), end.date())
        assert await usage_report(conn, "key", START, end) == before
        assert await spend_since(conn, "key", START.date()) == {"k1": 24_000, "k2": 48_000, "k3": 72_000}
        assert await spend_since(conn, "tenant", (START + dt.timedelta(days=4)).date(), ["t1"]) == {
            "t1": 12_000
        }
        pruned = await prune_usage(conn, START + dt.timedelta(days=1))
        assert pruned == 15
        assert await usage_report(conn, "key", START, end) == before, "rollups outlive raw rows"
    with pytest.raises(ValueError, match="group_by"):
        async with migrated.engine.connect() as conn:
            await usage_report(conn, "color", START, end)

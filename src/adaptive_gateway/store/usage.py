"""Usage and spend queries.

A report over ``[start, end)`` reads whole days from the daily rollups and only the partial days at
either edge from raw rows (by the ``created_at`` index), so its cost does not grow with the number
of raw rows in the range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from adaptive_gateway.store.models import NANO, Spend, Usage, UsageDaily

GROUPS = ("key", "tenant", "model", "provider", "day")
_RAW_GROUP: dict[str, Any] = {
    "key": Usage.key_id,
    "tenant": Usage.tenant_id,
    "model": Usage.model,
    "provider": Usage.provider,
}
_DAILY_GROUP: dict[str, Any] = {
    "key": UsageDaily.key_id,
    "tenant": UsageDaily.tenant_id,
    "model": UsageDaily.model,
    "provider": UsageDaily.provider,
    "day": UsageDaily.day,
}
_FIELDS = ("requests", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "cost_nano")


def _day_start(t: dt.datetime) -> dt.datetime:
    return dt.datetime(t.year, t.month, t.day)


def _ceil_day(t: dt.datetime) -> dt.datetime:
    start = _day_start(t)
    return start if start == t else start + dt.timedelta(days=1)


def _daily_query(group: str, first: dt.date, last: dt.date, filters: dict[str, str]) -> Select[Any]:
    col = _DAILY_GROUP[group]
    sums = [func.sum(getattr(UsageDaily, f)) for f in _FIELDS]
    conds = [UsageDaily.day >= first, UsageDaily.day < last]
    conds += [getattr(UsageDaily, f"{k}_id") == v for k, v in filters.items()]
    return select(col, *sums).where(and_(*conds)).group_by(col)


def _raw_query(group: str, start: dt.datetime, end: dt.datetime, filters: dict[str, str]) -> Select[Any]:
    col: Any = _RAW_GROUP.get(group)
    if col is None:  # by day: the edge range lies within one day
        col = func.min(Usage.created_at)
    errors = func.sum(func.cast(Usage.status >= 400, Usage.status.type))
    sums = [
        func.count(),
        errors,
        func.sum(Usage.input_tokens),
        func.sum(Usage.output_tokens),
        func.sum(Usage.cached_input_tokens),
        func.sum(Usage.cost_nano),
    ]
    conds: list[ColumnElement[bool]] = [Usage.created_at >= start, Usage.created_at < end]
    conds += [getattr(Usage, f"{k}_id") == v for k, v in filters.items()]
    query = select(col, *sums).where(and_(*conds))
    return query if group == "day" else query.group_by(col)


def _label(group: str, value: Any) -> str:
    if group == "day":
        return value.date().isoformat() if isinstance(value, dt.datetime) else str(value)
    return value or ""


async def usage_report(
    conn: AsyncConnection,
    group: str,
    start: dt.datetime,
    end: dt.datetime,
    filters: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Totals per ``group`` (key | tenant | model | provider | day) over ``[start, end)`` (naive UTC);
    ``filters`` narrows to ``{"key": id}`` and / or ``{"tenant": id}``. Sorted by cost, highest first."""
    if group not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}")
    filters = filters or {}
    totals: dict[str, list[int]] = {}

    def add(rows: Sequence[Any]) -> None:
        for row in rows:
            if row[1] is None or row[1] == 0:
                continue
            acc = totals.setdefault(_label(group, row[0]), [0] * len(_FIELDS))
            for i, value in enumerate(row[1:]):
                acc[i] += int(value or 0)

    first, last = _ceil_day(start), _day_start(end)
    if first < last:
        add((await conn.execute(_daily_query(group, first.date(), last.date(), filters))).all())
        edges = [(start, first), (last, end)]
    else:
        edges = [(start, end)]
    for lo, hi in edges:
        if lo < hi:
            add((await conn.execute(_raw_query(group, lo, hi, filters))).all())
    out: list[dict[str, Any]] = [
        {group: name, **dict(zip(_FIELDS[:-1], acc[:-1], strict=True)), "cost_usd": acc[-1] / NANO}
        for name, acc in totals.items()
    ]
    out.sort(key=lambda r: (-r["cost_usd"], -r["requests"], r[group]))
    return out


async def spend_since(
    conn: AsyncConnection, scope: str, first_day: dt.date, ids: Sequence[str] | None = None
) -> dict[str, int]:
    """Nano-USD spent per key or tenant id from ``first_day`` on."""
    query = select(Spend.scope_id, func.sum(Spend.cost_nano)).where(
        Spend.scope == scope, Spend.day >= first_day
    )
    if ids is not None:
        query = query.where(Spend.scope_id.in_(list(ids)))
    rows = (await conn.execute(query.group_by(Spend.scope_id))).all()
    return {sid: int(total or 0) for sid, total in rows}


async def rebuild_rollups(conn: AsyncConnection, first: dt.date, last: dt.date) -> None:
    """Recompute the daily rollups of ``[first, last)`` from raw rows (after a bulk import)."""
    await conn.execute(delete(UsageDaily).where(UsageDaily.day >= first, UsageDaily.day < last))
    day: Any = func.date(Usage.created_at)
    if conn.dialect.name == "postgresql":
        day = func.cast(Usage.created_at, UsageDaily.day.type)
    errors = func.sum(func.cast(Usage.status >= 400, Usage.status.type))
    source = (
        select(
            day,
            func.coalesce(Usage.key_id, ""),
            func.coalesce(Usage.tenant_id, ""),
            Usage.model,
            func.coalesce(Usage.provider, ""),
            func.count(),
            errors,
            func.sum(Usage.input_tokens),
            func.sum(Usage.output_tokens),
            func.sum(Usage.cached_input_tokens),
            func.sum(Usage.cost_nano),
        )
        .where(
            Usage.created_at >= dt.datetime.combine(first, dt.time()),
            Usage.created_at < dt.datetime.combine(last, dt.time()),
        )
        .group_by(day, Usage.key_id, Usage.tenant_id, Usage.model, Usage.provider)
    )
    cols = ["day", "key_id", "tenant_id", "model", "provider", *_FIELDS]
    await conn.execute(insert(UsageDaily).from_select(cols, source))


async def prune_usage(conn: AsyncConnection, older_than: dt.datetime) -> int:
    """Delete raw usage rows older than ``older_than`` (their daily rollups stay)."""
    result = await conn.execute(delete(Usage).where(Usage.created_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)

"""The write-behind queue: usage rows, daily rollups, spend and webhook deliveries are buffered in
memory by the request path (a list append) and written in batches by one background task, every
``interval`` seconds or as soon as ``batch_size`` rows wait. :meth:`WriteBehind.stop` (shutdown,
SIGTERM) writes what is left. A failed write keeps the rows and retries with backoff; past
``max_buffer`` rows the oldest are dropped and counted (a store that is down must not eat memory).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from adaptive_gateway.store.db import Store
from adaptive_gateway.store.models import Spend, Usage, UsageDaily, WebhookDelivery, from_epoch

log = logging.getLogger("adaptive_gateway.store")


@dataclass(slots=True)
class UsageRow:
    request_id: str
    created_at: float  # epoch seconds (``time.time()``): the writer makes it a datetime, off the request
    key_id: str | None
    tenant_id: str | None
    model: str
    provider: str | None
    deployment: str | None
    route: str
    status: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_nano: int
    latency_ms: float
    estimated: bool = False
    error: str | None = None


_ROLLUP_SUMS = ("requests", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "cost_nano")
_DAILY_KEYS = ("day", "key_id", "tenant_id", "model", "provider")
_SPEND_KEYS = ("scope", "scope_id", "day")
_SPEND_SUMS = ("cost_nano", "requests")
_DAY = 86_400
DAILY_COLUMNS = (*_DAILY_KEYS, *_ROLLUP_SUMS)  # the order of a daily rollup tuple
SPEND_COLUMNS = (*_SPEND_KEYS, *_SPEND_SUMS)  # the order of a spend tuple
Rollups = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def rollups(rows: Sequence[UsageRow]) -> Rollups:
    """The daily rollup and spend increments of a batch, one entry per primary key, in column order.
    Spend is derived from the daily groups (a key's or tenant's day is the sum of its groups)."""
    daily: dict[tuple[int, str, str, str, str], list[int]] = {}
    for r in rows:
        key = (int(r.created_at // _DAY), r.key_id or "", r.tenant_id or "", r.model, r.provider or "")
        acc = daily.get(key)
        if acc is None:
            daily[key] = [
                1,
                r.status >= 400,
                r.input_tokens,
                r.output_tokens,
                r.cached_input_tokens,
                r.cost_nano,
            ]
        else:
            acc[0] += 1
            acc[1] += r.status >= 400
            acc[2] += r.input_tokens
            acc[3] += r.output_tokens
            acc[4] += r.cached_input_tokens
            acc[5] += r.cost_nano
    daily_rows: list[tuple[Any, ...]] = []
    spend: dict[tuple[str, str, dt.date], list[int]] = {}
    days: dict[int, dt.date] = {}
    for (n, key_id, tenant_id, model, provider), acc in daily.items():
        day = days.get(n)
        if day is None:
            day = days[n] = from_epoch(n * _DAY).date()
        daily_rows.append((day, key_id, tenant_id, model, provider, acc[0], int(acc[1]), *acc[2:]))
        for sid_key in (("key", key_id, day), ("tenant", tenant_id, day)):
            if sid_key[1]:
                s = spend.get(sid_key)
                if s is None:
                    spend[sid_key] = [acc[5], acc[0]]
                else:
                    s[0] += acc[5]
                    s[1] += acc[0]
    return daily_rows, [(*k, *v) for k, v in spend.items()]


def _upsert(
    dialect: str, table: Any, rows: list[dict[str, Any]], keys: Sequence[str], sums: Sequence[str]
) -> Any:
    mod = postgresql if dialect == "postgresql" else sqlite
    stmt = mod.insert(table).values(rows)
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: getattr(table.c, c) + getattr(stmt.excluded, c) for c in sums}
    )


def _upsert_sql(table: str, keys: Sequence[str], sums: Sequence[str], dialect: str) -> str:
    """``INSERT .. ON CONFLICT .. DO UPDATE`` adding ``sums`` (PostgreSQL and SQLite >= 3.24 alike):
    written once, where SQLAlchemy would build and compile a statement per batch (~3 ms each)."""
    cols = (*keys, *sums)
    marks = ", ".join(f"${i}" if dialect == "postgresql" else "?" for i in range(1, len(cols) + 1))
    sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) "  # noqa: S608 - our own names
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    )


_UPSERTS = {
    dialect: (
        _upsert_sql("usage_daily", _DAILY_KEYS, _ROLLUP_SUMS, dialect),
        _upsert_sql("spend", _SPEND_KEYS, _SPEND_SUMS, dialect),
    )
    for dialect in ("postgresql", "sqlite")
}

_USAGE_COLUMNS = tuple(f.name for f in fields(UsageRow))
_rest = attrgetter(*_USAGE_COLUMNS[2:])


def _row_values(r: UsageRow) -> tuple[Any, ...]:
    """The row's column values in ``_USAGE_COLUMNS`` order, its time as the naive UTC datetime stored."""
    return (r.request_id, from_epoch(r.created_at), *_rest(r))


def _sqlite_values(
    rows: Sequence[UsageRow], rest: Callable[[UsageRow], tuple[Any, ...]] = _rest
) -> list[Any]:
    """The rows' column values, flat, for one multi-row SQLite ``INSERT``: the time as the text SQLAlchemy
    stores for a ``DateTime`` on SQLite (``YYYY-MM-DD HH:MM:SS.ffffff``, so raw and ORM-written rows
    compare alike), its date and time made once per second rather than a datetime per row; then the
    columns ``rest`` picks."""
    out: list[Any] = []
    extend = out.extend
    last = -1
    prefix = ""
    for r in rows:
        sec, micro = divmod(round(r.created_at * 1e6), 1_000_000)
        if sec != last:
            last = sec
            prefix = from_epoch(sec).strftime("%Y-%m-%d %H:%M:%S.")
        extend((r.request_id, f"{prefix}{micro:06d}"))
        extend(rest(r))
    return out


def _values(marks: list[str]) -> str:
    return "(" + ", ".join(marks) + ")"


_COLUMN_LIST = ", ".join(_USAGE_COLUMNS)
# PostgreSQL: asyncpg's own executemany (pipelined on the event loop)
_PG_INSERT = f"INSERT INTO usage ({_COLUMN_LIST}) VALUES " + _values(  # noqa: S608 - our own column names
    [f"${i}" for i in range(1, len(_USAGE_COLUMNS) + 1)]
)
# SQLite: many rows per statement, because the sqlite3 module releases and re-takes the GIL around every
# row of an executemany: from the writer thread, under load, that made the event loop hand the GIL over
# twice per usage row (~6 µs of CPU per request end to end, docs/benchmarks.md); one statement of up to
# 500 rows does it once. Statements come in a few sizes only (a batch of any length is cut into them),
# so the sqlite3 module's statement cache keeps each prepared.
_SQLITE_SIZES = (500, 100, 20, 4, 1)  # x 16 columns: 8,000 variables, inside SQLite's 32,766 since 3.32
# What the rows of a group share (one key, tenant, model, route and status: a batch is mostly a few such
# groups) is bound once per statement and only the rest per row: binding is most of the sqlite3 module's
# cost of a row (16 parameters 3.7 µs a row, 7 + 9 shared 2.2, docs/benchmarks.md).
_SHARED_COLUMNS = (
    "key_id",
    "tenant_id",
    "model",
    "provider",
    "deployment",
    "route",
    "status",
    "estimated",
    "error",
)
_OWN_COLUMNS = tuple(c for c in _USAGE_COLUMNS if c not in _SHARED_COLUMNS)  # request_id, created_at first
_shared = attrgetter(*_SHARED_COLUMNS)
_own_rest = attrgetter(*_OWN_COLUMNS[2:])
_GROUP_MIN = 20  # rows of a group written with its shared values bound once; smaller groups row by row


def _cut(rows: Sequence[UsageRow]) -> list[Sequence[UsageRow]]:
    """``rows`` in consecutive parts of the sizes in ``_SQLITE_SIZES``, largest first."""
    parts, at = [], 0
    for size in _SQLITE_SIZES:
        while len(rows) - at >= size:
            parts.append(rows[at : at + size])
            at += size
    return parts


@functools.lru_cache(maxsize=16)
def _sqlite_insert(rows: int) -> str:
    values = ", ".join([_values(["?"] * len(_USAGE_COLUMNS))] * rows)
    return f"INSERT INTO usage ({_COLUMN_LIST}) VALUES {values}"  # noqa: S608 - our own column names


@functools.lru_cache(maxsize=16)
def _sqlite_group_insert(rows: int) -> str:
    """Rows sharing ``_SHARED_COLUMNS``: their values first (bound once), then each row's own."""
    own = len(_OWN_COLUMNS)
    values = ", ".join([_values(["?"] * own)] * rows)
    picked = ", ".join(["?"] * len(_SHARED_COLUMNS) + [f"column{i}" for i in range(1, own + 1)])
    columns = ", ".join((*_SHARED_COLUMNS, *_OWN_COLUMNS))
    return f"INSERT INTO usage ({columns}) SELECT {picked} FROM (VALUES {values})"  # noqa: S608


async def _sqlite_rows(driver: Any, rows: Sequence[UsageRow]) -> None:
    """Insert raw rows through aiosqlite: large groups with their shared values bound once, the rest
    with every value per row."""
    groups: dict[tuple[Any, ...], list[UsageRow]] = {}
    for r in rows:
        shared = _shared(r)
        group = groups.get(shared)
        if group is None:
            groups[shared] = [r]
        else:
            group.append(r)
    loose: list[UsageRow] = []
    for shared, group in groups.items():
        if len(group) < _GROUP_MIN:
            loose += group
            continue
        for part in _cut(group):
            await driver.execute(_sqlite_group_insert(len(part)), [*shared, *_sqlite_values(part, _own_rest)])
    for part in _cut(loose):
        await driver.execute(_sqlite_insert(len(part)), _sqlite_values(part))


async def _driver(conn: AsyncConnection) -> Any:
    """The driver's own connection (asyncpg / aiosqlite), inside ``conn``'s transaction."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def write_usage(conn: AsyncConnection, dialect: str, rows: Sequence[UsageRow]) -> None:
    """Insert raw rows and add them to the daily rollups and spend, in the caller's transaction. Through
    the driver itself where we know it: ~10x less CPU per row than SQLAlchemy compiling an insert."""
    if not rows:
        return
    daily, spend = rollups(rows)
    if dialect == "postgresql":
        driver = await _driver(conn)
        await driver.executemany(_PG_INSERT, [_row_values(r) for r in rows])
    elif dialect == "sqlite":
        driver = await _driver(conn)
        await _sqlite_rows(driver, rows)
        # SQLAlchemy stores a Date on SQLite as ISO text: the same text for the same day's key
        daily = [(d.isoformat(), *rest) for d, *rest in daily]
        spend = [(scope, sid, d.isoformat(), *rest) for scope, sid, d, *rest in spend]
    else:  # another database: let SQLAlchemy bind the values
        await conn.execute(
            insert(Usage), [dict(zip(_USAGE_COLUMNS, _row_values(r), strict=True)) for r in rows]
        )
        daily_t, spend_t = UsageDaily.__table__, Spend.__table__
        for chunk in _chunks(daily, 500):
            rows_ = [dict(zip(DAILY_COLUMNS, r, strict=True)) for r in chunk]
            await conn.execute(_upsert(dialect, daily_t, rows_, _DAILY_KEYS, _ROLLUP_SUMS))
        for chunk in _chunks(spend, 1000):
            rows_ = [dict(zip(SPEND_COLUMNS, r, strict=True)) for r in chunk]
            await conn.execute(_upsert(dialect, spend_t, rows_, _SPEND_KEYS, _SPEND_SUMS))
        return
    daily_sql, spend_sql = _UPSERTS[dialect]
    if daily:
        await driver.executemany(daily_sql, daily)
    if spend:
        await driver.executemany(spend_sql, spend)


def _chunks(rows: list[tuple[Any, ...]], size: int) -> list[list[tuple[Any, ...]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


class WriteBehind:
    def __init__(
        self, store: Store, interval: float = 0.5, batch_size: int = 1000, max_buffer: int = 500_000
    ) -> None:
        self.store = store
        self.interval = interval
        self.batch_size = batch_size
        self.max_buffer = max_buffer
        self.usage: list[UsageRow] = []
        self.deliveries: list[dict[str, Any]] = []
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self.last_error: str | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._stopping = False

    @property
    def pending(self) -> int:
        return len(self.usage) + len(self.deliveries)

    @property
    def idle(self) -> bool:
        """Nothing queued and no write in progress."""
        return not self.usage and not self.deliveries and not self._lock.locked()

    def add_usage(self, row: UsageRow) -> None:
        """Queue one usage row (never blocks)."""
        self.usage.append(row)
        if len(self.usage) >= self.batch_size and self._wake is not None:
            self._wake.set()

    def add_delivery(self, row: dict[str, Any]) -> None:
        self.deliveries.append(row)

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        assert self._wake is not None
        backoff = self.interval
        while not self._stopping:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), backoff)
            self._wake.clear()
            if self._stopping:
                return
            backoff = self.interval if await self.flush() else min(backoff * 2, 30.0)

    async def flush(self) -> bool:
        """Write everything queued so far; False (rows kept for the next try) when the store failed."""
        async with self._lock:
            usage, self.usage = self.usage, []
            deliveries, self.deliveries = self.deliveries, []
            if not usage and not deliveries:
                return True
            try:
                async with self.store.engine.begin() as conn:
                    await write_usage(conn, self.store.dialect, usage)
                    if deliveries:
                        await conn.execute(insert(WebhookDelivery), deliveries)
            except BaseException as exc:  # the store is down, rejected the batch, or we were cancelled
                self.usage[:0] = usage
                self.deliveries[:0] = deliveries
                if not isinstance(exc, Exception):
                    raise
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("write-behind flush of %d row(s) failed: %s", len(usage), self.last_error)
                self._trim()
                return False
            self.written += len(usage)
            self.last_error = None
            return True

    def _trim(self) -> None:
        extra = len(self.usage) - self.max_buffer
        if extra > 0:
            del self.usage[:extra]
            self.dropped += extra
            log.error("write-behind buffer full: dropped %d usage row(s)", extra)

    async def stop(self, attempts: int = 3) -> None:
        """Stop the background task and write what is left (retried a few times)."""
        if self._task is not None:
            # let a flush in progress finish rather than cancel it halfway
            self._stopping = True
            assert self._wake is not None
            self._wake.set()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for i in range(attempts):
            if await self.flush():
                return
            await asyncio.sleep(0.2 * (i + 1))
        log.error("write-behind: %d row(s) could not be written at shutdown", self.pending)

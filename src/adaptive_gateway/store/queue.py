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
from collections.abc import Sequence
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


def rollups(rows: Sequence[UsageRow]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The daily rollup and spend increments of a batch, one entry per primary key."""
    daily: dict[tuple[dt.date, str, str, str, str], list[int]] = {}
    spend: dict[tuple[str, str, dt.date], list[int]] = {}
    days: dict[int, dt.date] = {}
    for r in rows:
        n = int(r.created_at // 86400)
        day = days.get(n)
        if day is None:
            day = days[n] = from_epoch(n * 86400).date()
        key = (day, r.key_id or "", r.tenant_id or "", r.model, r.provider or "")
        acc = daily.get(key)
        if acc is None:
            acc = daily[key] = [0, 0, 0, 0, 0, 0]
        acc[0] += 1
        acc[1] += r.status >= 400
        acc[2] += r.input_tokens
        acc[3] += r.output_tokens
        acc[4] += r.cached_input_tokens
        acc[5] += r.cost_nano
        for scope, sid in (("key", r.key_id), ("tenant", r.tenant_id)):
            if sid:
                s = spend.setdefault((scope, sid, day), [0, 0])
                s[0] += r.cost_nano
                s[1] += 1
    daily_rows = [
        {"day": k[0], "key_id": k[1], "tenant_id": k[2], "model": k[3], "provider": k[4]}
        | dict(zip(_ROLLUP_SUMS, v, strict=True))
        for k, v in daily.items()
    ]
    spend_rows = [
        {"scope": k[0], "scope_id": k[1], "day": k[2], "cost_nano": v[0], "requests": v[1]}
        for k, v in spend.items()
    ]
    return daily_rows, spend_rows


def _upsert(
    dialect: str, table: Any, rows: list[dict[str, Any]], keys: list[str], sums: Sequence[str]
) -> Any:
    mod = postgresql if dialect == "postgresql" else sqlite
    stmt = mod.insert(table).values(rows)
    return stmt.on_conflict_do_update(
        index_elements=keys, set_={c: getattr(table.c, c) + getattr(stmt.excluded, c) for c in sums}
    )


_USAGE_COLUMNS = tuple(f.name for f in fields(UsageRow))
_rest = attrgetter(*_USAGE_COLUMNS[2:])


def _row_values(r: UsageRow) -> tuple[Any, ...]:
    """The row's column values in ``_USAGE_COLUMNS`` order, its time as the naive UTC datetime stored."""
    return (r.request_id, from_epoch(r.created_at), *_rest(r))


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
# _SQLITE_ROWS rows does it once.
_SQLITE_ROWS = 500  # x 16 columns = 8,000 variables, inside SQLite's 32,766 default since 3.32


@functools.lru_cache(maxsize=64)
def _sqlite_insert(rows: int) -> str:
    values = ", ".join([_values(["?"] * len(_USAGE_COLUMNS))] * rows)
    return f"INSERT INTO usage ({_COLUMN_LIST}) VALUES {values}"  # noqa: S608 - our own column names


async def _driver(conn: AsyncConnection) -> Any:
    """The driver's own connection (asyncpg / aiosqlite), inside ``conn``'s transaction."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def write_usage(conn: AsyncConnection, dialect: str, rows: Sequence[UsageRow]) -> None:
    """Insert raw rows and add them to the daily rollups and spend, in the caller's transaction. Through
    the driver itself where we know it: ~10x less CPU per row than SQLAlchemy compiling an insert."""
    if not rows:
        return
    if dialect == "postgresql":
        await (await _driver(conn)).executemany(_PG_INSERT, [_row_values(r) for r in rows])
    elif dialect == "sqlite":
        driver = await _driver(conn)
        for i in range(0, len(rows), _SQLITE_ROWS):
            part = rows[i : i + _SQLITE_ROWS]
            await driver.execute(_sqlite_insert(len(part)), [v for r in part for v in _row_values(r)])
    else:  # another database: let SQLAlchemy bind the values
        await conn.execute(
            insert(Usage), [dict(zip(_USAGE_COLUMNS, _row_values(r), strict=True)) for r in rows]
        )
    daily, spend = rollups(rows)
    daily_t, spend_t = UsageDaily.__table__, Spend.__table__
    for chunk in _chunks(daily, 500):
        await conn.execute(
            _upsert(
                dialect, daily_t, chunk, ["day", "key_id", "tenant_id", "model", "provider"], _ROLLUP_SUMS
            )
        )
    for chunk in _chunks(spend, 1000):
        await conn.execute(
            _upsert(dialect, spend_t, chunk, ["scope", "scope_id", "day"], ("cost_nano", "requests"))
        )


def _chunks(rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
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

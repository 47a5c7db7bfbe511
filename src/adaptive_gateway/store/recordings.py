"""Recorded prompts and answers (``observability.recording``): the batch writer, retention and queries.

Rows are queued in memory by the request path (:meth:`RecordingWriter.add`, a list append) and
inserted in batches by one background task, like usage rows (``store/queue.py``) but in their own
queue and transaction: a recording the database refuses must never hold back usage rows (billing),
and the memory bound counts rows that may each carry up to ``max_chars`` of text per message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from adaptive_gateway.store.db import Store
from adaptive_gateway.store.models import Recording, VirtualKey

log = logging.getLogger("adaptive_gateway.store")
# what a list shows: everything but the text
SUMMARY = tuple(
    c.name for c in Recording.__table__.columns if c.name not in ("id", "messages", "response", "redacted")
)
PREVIEW_CHARS = 160


def _clean(value: Any) -> Any:
    """Strings without NUL (PostgreSQL text and json refuse it), recursively."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


async def write_recordings(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(Recording), [_clean(r) for r in rows])


async def prune_recordings(conn: AsyncConnection, cutoff: dt.datetime, max_rows: int | None) -> int:
    """Delete recordings older than ``cutoff``, then the oldest beyond ``max_rows``; rows deleted."""
    gone = (await conn.execute(delete(Recording).where(Recording.created_at < cutoff))).rowcount or 0
    if max_rows is not None:
        newest_dropped = (
            await conn.execute(select(Recording.id).order_by(Recording.id.desc()).offset(max_rows).limit(1))
        ).scalar()
        if newest_dropped is not None:
            result = await conn.execute(delete(Recording).where(Recording.id <= newest_dropped))
            gone += result.rowcount or 0
    return gone


def _conditions(filters: dict[str, Any]) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if filters.get("key"):
        conds.append(or_(Recording.key_id == filters["key"], Recording.key_prefix == filters["key"]))
    for name, col in (
        ("key_id", Recording.key_id),
        ("model", Recording.model),
        ("tenant", Recording.tenant_id),
    ):
        if filters.get(name):
            conds.append(col == filters[name])
    if filters.get("from") is not None:
        conds.append(Recording.created_at >= filters["from"])
    if filters.get("to") is not None:
        conds.append(Recording.created_at < filters["to"])
    return conds


def _preview(messages: list[dict[str, Any]]) -> str:
    text = str(messages[-1].get("text", "")) if messages else ""
    return text[:PREVIEW_CHARS]


def _out(row: Any, full: bool) -> dict[str, Any]:
    data = {c: getattr(row, c) for c in SUMMARY}
    data["created_at"] = row.created_at.isoformat() + "Z"
    data["cost_usd"] = round(data.pop("cost_nano") / 1e9, 9)
    if full:
        data |= {"messages": row.messages, "response": row.response, "redacted": row.redacted}
    else:
        data["preview"] = _preview(row.messages)
    return data


async def list_recordings(conn: AsyncConnection, filters: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """Newest first; ``filters``: key (id or prefix), key_id (exact), model, tenant, from / to (naive UTC)."""
    stmt = select(Recording).where(and_(*_conditions(filters))).order_by(Recording.id.desc()).limit(limit)
    rows = (await conn.execute(stmt)).all()
    return [_out(r, full=False) for r in rows]


async def get_recording(
    conn: AsyncConnection, request_id: str, filters: dict[str, Any]
) -> dict[str, Any] | None:
    """The newest recording of ``request_id`` that matches ``filters`` (a caller's scope)."""
    conds = [Recording.request_id == request_id, *_conditions(filters)]
    stmt = select(Recording).where(and_(*conds)).order_by(Recording.id.desc()).limit(1)
    row = (await conn.execute(stmt)).first()
    return _out(row, full=True) if row is not None else None


async def record_flags(conn: AsyncConnection) -> dict[str, bool]:
    """Virtual keys whose metadata says ``"record": true`` or ``false`` (per-key opt-in / opt-out)."""
    rows = (await conn.execute(select(VirtualKey.id, VirtualKey.meta))).all()
    return {
        kid: meta["record"]
        for kid, meta in rows
        if isinstance(meta, dict) and isinstance(meta.get("record"), bool)
    }


class RecordingWriter:
    """Batches rows into the store every ``interval`` seconds (or at ``batch_size``); a failed write
    keeps them and retries with backoff; past ``max_buffer`` rows the oldest are dropped and counted."""

    def __init__(
        self, store: Store, interval: float = 1.0, batch_size: int = 500, max_buffer: int = 5000
    ) -> None:
        self.store = store
        self.interval = interval
        self.batch_size = batch_size
        self.max_buffer = max_buffer
        self.rows: list[dict[str, Any]] = []
        self.written = 0
        self.dropped = 0
        self.last_error: str | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def add(self, row: dict[str, Any]) -> None:
        """Queue one row (never blocks)."""
        self.rows.append(row)
        if len(self.rows) > self.max_buffer:
            self._trim()
        if len(self.rows) >= self.batch_size and self._wake is not None:
            self._wake.set()

    def _trim(self) -> None:
        extra = len(self.rows) - self.max_buffer
        if extra > 0:
            del self.rows[:extra]
            self.dropped += extra
            log.error("recordings: buffer full, dropped %d row(s)", extra)

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        assert self._wake is not None
        backoff = self.interval
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), backoff)
            self._wake.clear()
            backoff = self.interval if await self.flush() else min(backoff * 2, 30.0)

    async def flush(self) -> bool:
        """Write what is queued; False (rows kept for the next try) when the store failed."""
        async with self._lock:
            rows, self.rows = self.rows, []
            if not rows:
                return True
            try:
                async with self.store.engine.begin() as conn:
                    await write_recordings(conn, rows)
            except Exception as exc:
                self.rows[:0] = rows
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("recordings: writing %d row(s) failed: %s", len(rows), self.last_error)
                self._trim()
                return False
            self.written += len(rows)
            self.last_error = None
            return True

    async def stop(self) -> None:
        """Stop the background task (never halfway through a write) and write what is left."""
        if self._task is not None:
            async with self._lock:
                self._task.cancel()
                with suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self.flush()

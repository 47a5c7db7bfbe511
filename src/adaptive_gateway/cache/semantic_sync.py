"""Keeps a replica's in-memory semantic index (``semantic.py``) in step with the disk and with the other
replicas: loads the persisted rows at start, writes new rows behind (``semantic_store.py``), publishes
them to and pulls the others' from Redis (``semantic_shared.py``), and applies purges to the disk.

The request path only ever touches the numpy matrix; everything here runs in the background or in
the store's thread, and failures there turn into misses, never into errors. :meth:`SemanticSync.status`
is what ``GET /api/cache`` shows of it (``semantic.sync``): rows on disk, the stream's cursor against
its newest item, what was loaded, queued, published and pulled, and the last failure.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np

from adaptive_gateway.cache.entry import Entry, Selector
from adaptive_gateway.cache.semantic import SemanticIndex, Vector
from adaptive_gateway.cache.semantic_shared import SharedSemantic
from adaptive_gateway.cache.semantic_store import FILE, SemanticRow, SemanticStore
from adaptive_gateway.cache.shared import SharedTier
from adaptive_gateway.config.cache_schema import CacheConfig

log = logging.getLogger("adaptive_gateway.cache")
PURGE_CURSOR = "purge_cursor"
ADD_CHUNK = 1000  # rows indexed between two yields to the loop while loading


class SemanticSync:
    def __init__(
        self,
        index: SemanticIndex,
        store: SemanticStore | None,
        shared: SharedSemantic | None,
        clock: Callable[[], float],
        sync_seconds: float,
    ) -> None:
        self.index = index
        self.store = store
        self.shared = shared
        self.clock = clock
        self.sync_seconds = sync_seconds
        self.loaded = 0  # rows indexed from the disk at start
        self.pulled = 0  # rows indexed from other replicas
        self.queued = 0  # rows handed to the disk store (written by its next flush)
        self.published = 0  # rows appended to the shared stream
        self.ready = False  # the disk and the stream were read at start
        self.last_pull: float | None = None  # when a pull last reached Redis (``clock``)
        self.errors = 0  # failed stream reads and writes, failed follow passes
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._purge_cursor: str | None = None  # the last shared purge applied to the disk

    # ---- start and follow --------------------------------------------------------------------------

    async def start(self) -> None:
        """Index the persisted rows and what the other replicas published, then keep following them."""
        if self.store is not None:
            rows = await self.store.load()
            self.loaded = await self._index_rows(rows)
        if self.shared is not None:
            await self._purges(first=True)
            await self._pull()
            self._task = asyncio.get_running_loop().create_task(self._follow())
        self.ready = True

    def launch(self) -> None:
        """:meth:`start` in the background (an index made after startup, e.g. by a reload)."""
        self._task = asyncio.get_running_loop().create_task(self.start())

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.sync_seconds)
            try:
                await self._pull()
                await self._purges(first=False)
            except Exception as exc:  # never let the follower die of one bad item
                self._failed(f"sync pass: {exc}")
                log.exception("cache: semantic sync failed")

    def _failed(self, message: str) -> None:
        self.errors += 1
        self.last_error, self.last_error_at = message, self.clock()

    def _reached(self) -> bool:
        """Whether the stream call just awaited went through (``SharedSemantic`` swallows its failures
        and says so in ``ok``, the reason in the shared tier's ``last_error``); if not, remember why."""
        assert self.shared is not None
        if self.shared.ok:
            return True
        self._failed(self.shared.tier.last_error)
        return False

    async def _pull(self) -> None:
        assert self.shared is not None
        more = True
        while more:
            rows, more = await self.shared.pull(self.clock())
            if self._reached():
                self.last_pull = self.clock()
            self.pulled += await self._index_rows(rows)

    async def _purges(self, first: bool) -> None:
        """Apply the shared purges made since this replica's disk last saw one (also while it was down);
        when some were trimmed from the capped stream unseen, the persisted rows are dropped."""
        assert self.shared is not None
        if self.store is None:
            return  # the index itself follows purges with the exact tier (ResponseCache.follow_purges)
        if self._purge_cursor is None:
            self._purge_cursor = await self.store.get_meta(PURGE_CURSOR)
        if self._purge_cursor is None:  # a new disk: nothing on it predates the newest purge
            newest = await self.shared.last_purge()
            self._reached()
            if newest is not None:
                await self._save_cursor(newest)
            return
        selectors, cursor, missed = await self.shared.purges_since(self._purge_cursor)
        self._reached()
        if missed and first:
            log.warning("cache: purges were missed while this replica was down; dropping persisted vectors")
            await self.store.clear()
            self.index.purge(Selector())
        for sel in selectors:
            await self.store.purge(sel)
            self.index.purge(sel)
        if cursor != self._purge_cursor:
            await self._save_cursor(cursor)

    async def _save_cursor(self, cursor: str) -> None:
        assert self.store is not None
        self._purge_cursor = cursor
        await self.store.set_meta(PURGE_CURSOR, cursor)

    async def _index_rows(self, rows: list[SemanticRow]) -> int:
        n = 0
        for i, row in enumerate(rows):
            vector: Vector = np.frombuffer(row.vector, dtype=np.float32)
            if vector.shape[0] != self.index.dims:
                continue  # written by another embedding model
            self.index.add(row.bucket, row.key, vector, row.model, row.scope)
            n += 1
            if i % ADD_CHUNK == ADD_CHUNK - 1:
                await asyncio.sleep(0)
        return n

    # ---- the request path's hooks ------------------------------------------------------------------

    async def kept(self, bucket: str, vector: Vector, entry: Entry, shared: bool) -> None:
        """A new row was indexed: persist it with its answer, and publish it, when its trust level lets
        it leave the process (``shared``)."""
        if not shared:
            return
        row = SemanticRow(
            entry.key,
            bucket,
            entry.model,
            entry.scope,
            np.asarray(vector, dtype=np.float32).tobytes(),
            entry.stored_at,
            entry.expires_at,
        )
        if self.store is not None:
            self.store.max_entries = self.index.max_entries  # follows reloads
            self.store.add(row, entry.to_bytes())
            self.queued += 1
        if self.shared is not None:
            await self.shared.publish(row)
            if self._reached():
                self.published += 1

    async def answer(self, key: str) -> Entry | None:
        """The persisted answer of ``key`` (after a restart, or once the in-process tier evicted it)."""
        return await self.store.entry(key) if self.store is not None else None

    async def purge(self, sel: Selector) -> int:
        return await self.store.purge(sel) if self.store is not None else 0

    # ---- the admin view ----------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        """The sync's state (``GET /api/cache`` → ``semantic.sync``): the disk copy and the shared stream,
        each None when that copy is off. Reads the row count with its own read-only connection in a
        worker thread and asks Redis for the stream's length and newest id; neither touches the request
        path or the counters, and a failure there shows as None."""
        failed = self.last_error_at
        return {
            "ready": self.ready,
            "sync_seconds": self.sync_seconds,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_error_age_s": round(self.clock() - failed, 3) if failed is not None else None,
            "disk": await self._disk_status() if self.store is not None else None,
            "redis": await self._stream_status() if self.shared is not None else None,
        }

    async def _disk_status(self) -> dict[str, Any]:
        assert self.store is not None
        try:
            vectors: int | None = await asyncio.to_thread(_live_rows, self.store.path, self.clock())
        except (sqlite3.Error, OSError):
            vectors = None
        return {
            "path": str(self.store.path),
            "vectors": vectors,  # live rows in the file (every worker sharing this home writes there)
            "loaded": self.loaded,
            "queued": self.queued,
            "purge_cursor": self._purge_cursor,
            "errors": self.store.errors,
            "last_error": self.store.last_error or None,
        }

    async def _stream_status(self) -> dict[str, Any]:
        assert self.shared is not None
        shared = self.shared
        items: int | None = None
        head: str | None = None
        try:
            items = int(await shared.client.execute("XLEN", shared.stream))
            newest = await shared.client.execute("XREVRANGE", shared.stream, "+", "-", "COUNT", 1)
            head = newest[0][0].decode() if newest else "0-0"
        except Exception:  # Redis is down: the counters below tell the rest
            items = head = None
        now = self.clock()
        return {
            "stream": shared.stream,
            "items": items,  # in the stream now (capped at about semantic.max_entries)
            "head": head,  # its newest item's id
            "cursor": shared.cursor,  # the last item this replica pulled
            "behind": _stream_id(head) > _stream_id(shared.cursor) if head is not None else None,
            "pulled": self.pulled,
            "published": self.published,
            "last_pull_age_s": round(now - self.last_pull, 3) if self.last_pull is not None else None,
        }

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.store is not None:
            await self.store.close()


def open_sync(
    index: SemanticIndex,
    cfg: CacheConfig,
    home: Path | None,
    tier: SharedTier | None,
    clock: Callable[[], float],
) -> SemanticSync | None:
    """The sync for ``index`` under ``cfg``, or None when there is nothing to persist or share."""
    sem = cfg.semantic
    store = SemanticStore(home / FILE, sem.max_entries, clock) if sem.persist and home else None
    origin = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    shared = SharedSemantic(tier, sem.max_entries, origin) if tier is not None else None
    if store is None and shared is None:
        return None
    return SemanticSync(index, store, shared, clock, sem.sync_seconds)


def _live_rows(path: Path, now: float) -> int:
    """The unexpired rows of the store's file, read with a connection of its own (WAL: not blocked by
    the writer); 0 before anything was written."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1)
    try:
        row = conn.execute("SELECT COUNT(*) FROM semantic WHERE expires > ?", (now,)).fetchone()
        return int(row[0])
    finally:
        conn.close()


def _stream_id(ident: str) -> tuple[int, int]:
    ms, _, seq = ident.partition("-")
    return int(ms), int(seq or 0)

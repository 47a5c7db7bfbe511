"""Keeps a replica's in-memory semantic index (``semantic.py``) in step with the disk and with the other
replicas: loads the persisted rows at start, writes new rows behind (``semantic_store.py``), publishes
them to and pulls the others' from Redis (``semantic_shared.py``), and applies purges to the disk.

The request path only ever touches the numpy matrix; everything here runs in the background or in
the store's thread, and failures there turn into misses, never into errors.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

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

    def launch(self) -> None:
        """:meth:`start` in the background (an index made after startup, e.g. by a reload)."""
        self._task = asyncio.get_running_loop().create_task(self.start())

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.sync_seconds)
            try:
                await self._pull()
                await self._purges(first=False)
            except Exception:  # never let the follower die of one bad item
                log.exception("cache: semantic sync failed")

    async def _pull(self) -> None:
        assert self.shared is not None
        more = True
        while more:
            rows, more = await self.shared.pull(self.clock())
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
            if newest is not None:
                await self._save_cursor(newest)
            return
        selectors, cursor, missed = await self.shared.purges_since(self._purge_cursor)
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
        if self.shared is not None:
            await self.shared.publish(row)

    async def answer(self, key: str) -> Entry | None:
        """The persisted answer of ``key`` (after a restart, or once the in-process tier evicted it)."""
        return await self.store.entry(key) if self.store is not None else None

    async def purge(self, sel: Selector) -> int:
        return await self.store.purge(sel) if self.store is not None else 0

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

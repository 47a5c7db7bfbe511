"""The semantic index on disk: one SQLite file under the gateway home (``<home>/cache/semantic.db``), so a
restart keeps semantic hits.

A row is one indexed prompt: the exact-cache key it answers to (primary key), its bucket (see
``keys.context_key``), model and scope, the unit vector (float32 bytes), the entry (``Entry.to_bytes``:
header and answer, so the answer survives a restart even when no Redis holds it), when it was stored and
when it expires. Only entries that may leave the process (trust level at most ``cache.max_trust``) are
written here.

Writes never run on the request path: :meth:`SemanticStore.add` queues a row and one flush, at most
every ``flush_seconds``, writes the batch in one transaction on the store's own thread, deletes expired
rows and the oldest rows beyond ``max_entries``. Every query runs on that one thread too, which owns the
connection. Disk trouble is counted and logged, never raised to a request.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from adaptive_gateway.cache.entry import Entry, Selector

log = logging.getLogger("adaptive_gateway.cache")
T = TypeVar("T")

FILE = Path("cache") / "semantic.db"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS semantic (key TEXT PRIMARY KEY, bucket TEXT NOT NULL, model TEXT NOT NULL,"
    " scope TEXT NOT NULL, vector BLOB NOT NULL, entry BLOB NOT NULL, created REAL NOT NULL,"
    " expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS semantic_created ON semantic (created)",
    "CREATE INDEX IF NOT EXISTS semantic_expires ON semantic (expires)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_COLUMNS = "key, bucket, model, scope, vector, created, expires"
_FAILURES = (sqlite3.Error, OSError)


@dataclass(frozen=True, slots=True)
class SemanticRow:
    """One indexed prompt, as stored here and published to the other replicas."""

    key: str  # the exact-cache key of the answer
    bucket: str
    model: str
    scope: str
    vector: bytes  # float32, unit length
    created: float
    expires: float


class SemanticStore:
    def __init__(
        self, path: Path, max_entries: int, clock: Callable[[], float], flush_seconds: float = 0.2
    ) -> None:
        self.path = path
        self.max_entries = max_entries
        self.clock = clock
        self.flush_seconds = flush_seconds
        self.errors = 0
        self.last_error = ""
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="semantic-store")
        self._conn: sqlite3.Connection | None = None  # used on the pool's thread only
        self._pending: dict[str, tuple[SemanticRow, bytes]] = {}
        self._flush: asyncio.Task[None] | None = None

    # ---- the loop side -----------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any, default: T) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except _FAILURES as exc:
            self.errors += 1
            self.last_error = f"{self.path}: {exc}"
            log.warning("semantic cache store: %s", self.last_error)
            return default

    def add(self, row: SemanticRow, entry: bytes) -> None:
        """Queue ``row`` and its entry bytes; written by the next flush (cheap, on the loop)."""
        self._pending[row.key] = (row, entry)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_seconds)
        self._flush = None
        await self.flush()

    async def flush(self) -> None:
        batch, self._pending = list(self._pending.values()), {}
        if batch:
            await self._run(self._write, batch, self.clock(), default=None)

    async def load(self) -> list[SemanticRow]:
        """The live rows, newest ``max_entries`` of them, oldest first (expired rows are deleted)."""
        return await self._run(self._load, self.clock(), self.max_entries, default=[])

    async def entry(self, key: str) -> Entry | None:
        """The stored entry for ``key`` when it has not expired."""
        now, pending = self.clock(), self._pending.get(key)
        raw = pending[1] if pending is not None else await self._run(self._entry, key, default=None)
        entry = Entry.from_bytes(raw) if raw is not None else None
        return entry if entry is not None and entry.expires_at > now else None

    async def purge(self, sel: Selector) -> int:
        for key in [k for k, (row, _) in self._pending.items() if _matches(sel, row)]:
            del self._pending[key]
        return await self._run(self._purge, sel, default=0)

    async def clear(self) -> None:
        self._pending.clear()
        await self._run(self._purge, Selector(), default=0)

    async def get_meta(self, name: str) -> str | None:
        return await self._run(self._get_meta, name, default=None)

    async def set_meta(self, name: str, value: str) -> None:
        await self._run(self._set_meta, name, value, default=None)

    async def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        await self.flush()
        await self._run(self._close, default=None)
        self._pool.shutdown(wait=False)

    # ---- the store's thread ------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")  # replicas sharing a home read while one writes
            conn.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                conn.execute(statement)
            self._conn = conn
        return self._conn

    def _write(self, batch: list[tuple[SemanticRow, bytes]], now: float) -> None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO semantic VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.key, r.bucket, r.model, r.scope, r.vector, e, r.created, r.expires) for r, e in batch],
            )
            db.execute("DELETE FROM semantic WHERE expires <= ?", (now,))
            db.execute(
                "DELETE FROM semantic WHERE key IN"
                " (SELECT key FROM semantic ORDER BY created DESC LIMIT -1 OFFSET ?)",
                (self.max_entries,),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _load(self, now: float, limit: int) -> list[SemanticRow]:
        db = self._db()
        db.execute("DELETE FROM semantic WHERE expires <= ?", (now,))
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM semantic ORDER BY created DESC LIMIT ?",  # noqa: S608
            (limit,),
        ).fetchall()
        return [SemanticRow(*row) for row in reversed(rows)]

    def _entry(self, key: str) -> bytes | None:
        row = self._db().execute("SELECT entry FROM semantic WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row is not None else None

    def _purge(self, sel: Selector) -> int:
        cur = self._db().execute(
            "DELETE FROM semantic WHERE (:model IS NULL OR model = :model)"
            " AND (:scope IS NULL OR scope = :scope) AND (:key IS NULL OR key = :key)",
            sel.as_dict(),
        )
        return cur.rowcount

    def _get_meta(self, name: str) -> str | None:
        row = self._db().execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row is not None else None

    def _set_meta(self, name: str, value: str) -> None:
        self._db().execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _matches(sel: Selector, row: SemanticRow) -> bool:
    return (
        (sel.model is None or row.model == sel.model)
        and (sel.scope is None or row.scope == sel.scope)
        and (sel.key is None or row.key == sel.key)
    )

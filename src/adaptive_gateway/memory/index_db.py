"""The SQLite side of memory search: schema, rows and queries (FTS5 with bm25, stored vectors)."""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from adaptive_gateway.memory.errors import InvalidItem
from adaptive_gateway.memory.frontmatter import parse_item
from adaptive_gateway.memory.models import ItemType

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS docs (rowid INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, id TEXT NOT NULL,"
    " namespace TEXT NOT NULL, type TEXT NOT NULL, trust_level TEXT NOT NULL, trust_rank INTEGER NOT NULL,"
    " title TEXT NOT NULL, embed_text TEXT NOT NULL, vector BLOB)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5(title, tags, body, tokenize='porter unicode61')",
)
# Title words weigh most, then tags, then the body.
_BM25 = "bm25(docs_fts, 10.0, 4.0, 1.0)"
_FILTER = (
    "(:namespace IS NULL OR d.namespace = :namespace) AND (:type IS NULL OR d.type = :type)"
    " AND (:max_rank IS NULL OR d.trust_rank <= :max_rank)"
)
_COLUMNS = "d.rowid, d.id, d.namespace, d.type, d.trust_level, d.title, d.path"
# Built from the constants above only; every value travels as a bound parameter.
_MATCH_SQL = (
    f"SELECT {_COLUMNS}, -{_BM25}, snippet(docs_fts, -1, '[', ']', '…', 16)"  # noqa: S608
    f" FROM docs_fts JOIN docs d ON d.rowid = docs_fts.rowid"
    f" WHERE docs_fts MATCH :query AND {_FILTER} ORDER BY {_BM25} LIMIT :limit"
)
_VECTORS_SQL = f"SELECT {_COLUMNS}, vector FROM docs d WHERE vector IS NOT NULL AND {_FILTER}"  # noqa: S608


@dataclass(frozen=True)
class IndexedDoc:
    rowid: int
    id: str
    namespace: str
    type: str
    trust_level: str
    title: str
    path: str
    bm25: float = 0.0
    snippet: str = ""


def vector_to_blob(vector: Sequence[float]) -> bytes:
    return array("f", vector).tobytes()


def vector_from_blob(blob: bytes) -> list[float]:
    values = array("f")
    values.frombytes(blob)
    return values.tolist()


def _params(namespace: str | None, kind: ItemType | None, max_rank: int | None) -> dict[str, object]:
    return {"namespace": namespace, "type": kind.value if kind else None, "max_rank": max_rank}


class IndexDB:
    """Queries over one open connection (autocommit mode; use :meth:`transaction` for writes)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.create()

    def create(self) -> None:
        for statement in _SCHEMA:
            self.conn.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so concurrent refreshers queue instead of deadlocking.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM docs").fetchone()[0])

    def clear(self) -> None:
        self.conn.execute("DELETE FROM docs")
        self.conn.execute("DELETE FROM docs_fts")
        self.conn.execute("DELETE FROM meta WHERE key = 'head'")

    def remove(self, path: str) -> None:
        row = self.conn.execute("SELECT rowid FROM docs WHERE path = ?", (path,)).fetchone()
        if row:
            self.conn.execute("DELETE FROM docs WHERE rowid = ?", (row[0],))
            self.conn.execute("DELETE FROM docs_fts WHERE rowid = ?", (row[0],))

    def add_file(self, path: str, text: str) -> bool:
        """Index one item file; a file that does not parse is left out (and reported False)."""
        try:
            item = parse_item(text)
        except InvalidItem:
            return False
        tags = " ".join(item.tags)
        cursor = self.conn.execute(
            "INSERT INTO docs (path, id, namespace, type, trust_level, trust_rank, title, embed_text)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                path,
                item.id,
                item.namespace,
                item.type.value,
                item.trust_level.value,
                item.trust_level.rank,
                item.title,
                f"{item.title}\n{tags}\n{item.body}",
            ),
        )
        self.conn.execute(
            "INSERT INTO docs_fts (rowid, title, tags, body) VALUES (?, ?, ?, ?)",
            (cursor.lastrowid, item.title, tags, item.body),
        )
        return True

    def match(
        self, query: str, namespace: str | None, kind: ItemType | None, max_rank: int | None, limit: int
    ) -> list[IndexedDoc]:
        """FTS5 matches, best first; ``bm25`` is reported positive (higher is better)."""
        params = {**_params(namespace, kind, max_rank), "query": query, "limit": limit}
        return [IndexedDoc(*row) for row in self.conn.execute(_MATCH_SQL, params)]

    def vectors(
        self, namespace: str | None, kind: ItemType | None, max_rank: int | None
    ) -> Iterator[tuple[IndexedDoc, bytes]]:
        for row in self.conn.execute(_VECTORS_SQL, _params(namespace, kind, max_rank)):
            yield IndexedDoc(*row[:-1]), bytes(row[-1])

    def docs_without_vector(self) -> list[tuple[int, str]]:
        rows = self.conn.execute("SELECT rowid, embed_text FROM docs WHERE vector IS NULL ORDER BY rowid")
        return [(int(rowid), str(text)) for rowid, text in rows]

    def set_vector(self, rowid: int, vector: Sequence[float]) -> None:
        self.conn.execute("UPDATE docs SET vector = ? WHERE rowid = ?", (vector_to_blob(vector), rowid))

    def drop_vectors(self) -> None:
        self.conn.execute("UPDATE docs SET vector = NULL")

"""Ranked search over the memory: SQLite FTS5 (bm25), optionally blended with embedding similarity.

The index lives in ``<root>/.index.sqlite`` (git-ignored). It records the git HEAD it was built at;
a search first brings it up to date (incrementally from ``git diff`` when it can, fully otherwise).
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from adaptive_gateway.memory.errors import InvalidItem
from adaptive_gateway.memory.index_db import IndexDB, IndexedDoc, vector_from_blob
from adaptive_gateway.memory.models import ItemType, TrustLevel, item_type_of_path
from adaptive_gateway.memory.store import MemoryStore

INDEX_NAME = ".index.sqlite"
_TOKEN_RE = re.compile(r"\w+", re.UNICODE)


class Embedder(Protocol):
    """Turns texts into vectors; one vector per text, all of one dimension."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@dataclass(frozen=True)
class SearchHit:
    """One ranked result; ``score`` is higher-is-better and only comparable within one search."""

    id: str
    namespace: str
    type: ItemType
    title: str
    trust_level: TrustLevel
    path: str
    score: float
    text_score: float
    vector_score: float | None
    snippet: str


@dataclass(frozen=True)
class SearchFilters:
    namespace: str | None = None
    type: ItemType | None = None
    max_trust: TrustLevel | None = None


def embedder_name(embedder: Embedder | None) -> str:
    if embedder is None:
        return ""
    return str(getattr(embedder, "name", None) or type(embedder).__qualname__)


def fts_query(text: str, operator: str = " ") -> str:
    """Quote each word so user text can never be read as FTS5 syntax."""
    return operator.join(f'"{token}"' for token in _TOKEN_RE.findall(text))


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class MemorySearch:
    """Search over one :class:`MemoryStore`.

    With an ``embedder``, results blend normalised bm25 (weight ``text_weight``) with cosine
    similarity; items with no word in common but similarity >= ``min_similarity`` are found too.
    """

    def __init__(
        self,
        store: MemoryStore,
        embedder: Embedder | None = None,
        *,
        index_path: Path | None = None,
        text_weight: float = 0.5,
        min_similarity: float = 0.3,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.index_path = index_path or store.root / INDEX_NAME
        self.text_weight = text_weight
        self.min_similarity = min_similarity

    @contextmanager
    def _db(self) -> Iterator[IndexDB]:
        with closing(sqlite3.connect(self.index_path, timeout=30.0, isolation_level=None)) as conn:
            yield IndexDB(conn)

    def reindex(self) -> int:
        """Rebuild the whole index from the files; returns the number of items indexed."""
        with self._db() as db, db.transaction():
            db.clear()
            self._refresh(db, force=True)
            return db.count()

    def ensure_fresh(self) -> None:
        """Bring the index up to the repository's current HEAD (no-op when already there)."""
        with self._db() as db:
            if db.get_meta("head") == self.store.head() and self._vectors_current(db):
                return
            with db.transaction():
                self._refresh(db, force=False)

    def _vectors_current(self, db: IndexDB) -> bool:
        if self.embedder is None:
            return True
        return db.get_meta("embedder") == embedder_name(self.embedder) and not db.docs_without_vector()

    def _refresh(self, db: IndexDB, *, force: bool) -> None:
        head = self.store.head()
        built_at = db.get_meta("head")
        if not force and built_at == head and self._vectors_current(db):
            return  # another process refreshed it while we waited for the write lock
        changed = None if force else self._changed_paths(built_at, head)
        if changed is None:
            db.clear()
            changed = [str(path.relative_to(self.store.root)) for path in self.store.item_paths()]
        for relpath in changed:
            db.remove(relpath)
            path = self.store.root / relpath
            if item_type_of_path(relpath) is not None and path.exists():
                db.add_file(relpath, path.read_text(encoding="utf-8"))
        self._embed_missing(db)
        db.set_meta("head", head or "")

    def _changed_paths(self, old: str | None, new: str | None) -> list[str] | None:
        git = self.store.git
        if not old or not new or git.rev(old) is None:
            return None
        listing = git.run("diff", "--name-only", "--no-renames", "-z", old, new).stdout.decode()
        return [name for name in listing.split("\0") if name]

    def _embed_missing(self, db: IndexDB) -> None:
        if self.embedder is None:
            return
        name = embedder_name(self.embedder)
        if db.get_meta("embedder") != name:
            db.drop_vectors()
            db.set_meta("embedder", name)
        pending = db.docs_without_vector()
        if pending:
            vectors = self.embedder.embed([text for _, text in pending])
            for (rowid, _), vector in zip(pending, vectors, strict=True):
                db.set_vector(rowid, vector)

    def search(
        self,
        query: str,
        *,
        namespace: str | None = None,
        type: ItemType | str | None = None,
        max_trust: TrustLevel | str | None = None,
        limit: int = 10,
    ) -> list[SearchHit]:
        """Best matches first; filters are exact namespace, exact type and trust level <= max_trust."""
        if limit < 1:
            raise InvalidItem("limit must be at least 1")
        filters = SearchFilters(
            namespace=namespace,
            type=ItemType.parse(type) if type else None,
            max_trust=TrustLevel.parse(max_trust) if max_trust else None,
        )
        self.ensure_fresh()
        with self._db() as db:
            docs = self._text_matches(db, query, filters, limit * 5)
            if self.embedder is not None:
                return self._blend(db, query, filters, docs, limit)
            return [_hit(doc, doc.bm25, doc.bm25, None) for doc in docs[:limit]]

    def _text_matches(self, db: IndexDB, query: str, filters: SearchFilters, limit: int) -> list[IndexedDoc]:
        strict = fts_query(query)
        if not strict:
            return []
        docs = db.match(strict, filters.namespace, filters.type, _rank(filters.max_trust), limit)
        if not docs and " " in strict:
            docs = db.match(
                fts_query(query, " OR "), filters.namespace, filters.type, _rank(filters.max_trust), limit
            )
        return docs

    def _blend(
        self, db: IndexDB, query: str, filters: SearchFilters, docs: list[IndexedDoc], limit: int
    ) -> list[SearchHit]:
        assert self.embedder is not None
        query_vector = self.embedder.embed([query])[0]
        best_text = max((doc.bm25 for doc in docs), default=0.0) or 1.0
        text_scores = {doc.rowid: doc.bm25 / best_text for doc in docs}
        by_row = {doc.rowid: doc for doc in docs}
        similarities: dict[int, float] = {}
        for doc, blob in db.vectors(filters.namespace, filters.type, _rank(filters.max_trust)):
            similarity = cosine(query_vector, vector_from_blob(blob))
            if doc.rowid in text_scores or similarity >= self.min_similarity:
                similarities[doc.rowid] = similarity
                by_row.setdefault(doc.rowid, doc)
        hits = []
        for rowid, doc in by_row.items():
            text = text_scores.get(rowid, 0.0)
            found = similarities.get(rowid)
            score = self.text_weight * text + (1.0 - self.text_weight) * max(found or 0.0, 0.0)
            hits.append(_hit(doc, score, text, found))
        hits.sort(key=lambda hit: hit.score, reverse=True)
        return hits[:limit]


def _rank(level: TrustLevel | None) -> int | None:
    return level.rank if level is not None else None


def _hit(doc: IndexedDoc, score: float, text_score: float, vector_score: float | None) -> SearchHit:
    return SearchHit(
        id=doc.id,
        namespace=doc.namespace,
        type=ItemType.parse(doc.type),
        title=doc.title,
        trust_level=TrustLevel.parse(doc.trust_level),
        path=doc.path,
        score=score,
        text_score=text_score,
        vector_score=vector_score,
        snippet=doc.snippet,
    )

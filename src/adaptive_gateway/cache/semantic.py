"""The semantic index: unit vectors of cached prompts, searched by cosine similarity.

One bucket per conversation context (model, scope, every message but the last, the parameters: see
``keys.context_key``), so a paraphrase can only match an entry whose answer was given under the same
conditions, to the same tenant. Each bucket is a numpy matrix searched by brute force: a 20,000-row
matrix of 384 float32 is one 30 MB matrix-vector product (~1 ms), and a bucket is usually far smaller.

Why not sqlite-vec: its search is also brute force, and measured slower: 20,000 rows of 384 float32,
k=1 in one partition, 8.4 ms in an in-memory database and 15 ms from a file, against 0.85 ms for this
matrix product (docs/cache.md); it would also need a second SQLite binding (apsw or pysqlite3: this
interpreter's ``sqlite3`` cannot load extensions). The rows are kept in plain SQLite instead.

Searches only ever read this in-memory matrix; ``semantic_sync.py`` keeps it in step with the disk
(rows persisted under the gateway home, loaded at start) and with the other replicas (a Redis stream).
The entries the vectors point to may be in either tier or on disk. A vector whose entry has gone
(expired, evicted, purged) is dropped when a search finds it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from adaptive_gateway.cache.entry import Selector

Vector = npt.NDArray[np.float32]


@dataclass(slots=True)
class _Bucket:
    model: str
    scope: str
    dims: int
    keys: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    matrix: Vector = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def add(self, key: str, vector: Vector) -> None:
        row = self.rows.get(key)
        if row is None:
            row = len(self.keys)
            if row >= self.matrix.shape[0]:
                grown = np.zeros((max(8, row * 2), self.dims), np.float32)
                if row:
                    grown[:row] = self.matrix[:row]
                self.matrix = grown
            self.keys.append(key)
            self.rows[key] = row
        self.matrix[row] = vector

    def remove(self, key: str) -> bool:
        row = self.rows.pop(key, None)
        if row is None:
            return False
        last = len(self.keys) - 1
        if row != last:  # move the last row into the hole
            moved = self.keys[last]
            self.keys[row] = moved
            self.rows[moved] = row
            self.matrix[row] = self.matrix[last]
        self.keys.pop()
        return True

    def snapshot(self) -> Snapshot:
        return list(self.keys), self.matrix[: len(self.keys)]


Snapshot = tuple[list[str], Vector]


def best(snapshot: Snapshot, vector: Vector) -> str | None:
    """The key whose vector is closest to ``vector``; pure, so it may run in a worker thread while the
    loop changes the index (a row it reads may be moved: :meth:`SemanticIndex.confirm` checks)."""
    keys, matrix = snapshot
    n = min(len(keys), matrix.shape[0])
    if n == 0:
        return None
    return keys[int(np.argmax(matrix[:n] @ vector))]


class SemanticIndex:
    def __init__(self, max_entries: int, dims: int = 384) -> None:
        self.max_entries = max_entries
        self.dims = dims
        self._buckets: dict[str, _Bucket] = {}
        self._order: OrderedDict[tuple[str, str], None] = OrderedDict()  # oldest first, for eviction

    def __len__(self) -> int:
        return len(self._order)

    def add(self, bucket: str, key: str, vector: Vector, model: str, scope: str) -> None:
        """Index ``key`` (an exact-cache key) under ``bucket``; ``vector`` must be unit length."""
        b = self._buckets.get(bucket)
        if b is None:
            b = self._buckets[bucket] = _Bucket(model, scope, self.dims)
        b.add(key, vector)
        self._order[(bucket, key)] = None
        self._order.move_to_end((bucket, key))
        while len(self._order) > self.max_entries:
            (old_bucket, old_key), _ = self._order.popitem(last=False)
            self._remove(old_bucket, old_key)

    def snapshot(self, bucket: str) -> Snapshot | None:
        """What :func:`best` searches: the bucket's keys (copied) and its rows, or None when empty."""
        b = self._buckets.get(bucket)
        return b.snapshot() if b is not None else None

    def confirm(self, bucket: str, key: str, vector: Vector, threshold: float) -> float | None:
        """The cosine of ``key``'s current vector, when it is still indexed and at least ``threshold``."""
        b = self._buckets.get(bucket)
        row = b.rows.get(key) if b is not None else None
        if b is None or row is None:
            return None
        score = float(b.matrix[row] @ vector)
        return score if score >= threshold else None

    def search(self, bucket: str, vector: Vector, threshold: float) -> tuple[str, float] | None:
        """The most similar indexed key of ``bucket`` and its cosine, when at least ``threshold``."""
        snap = self.snapshot(bucket)
        key = best(snap, vector) if snap is not None else None
        score = self.confirm(bucket, key, vector, threshold) if key is not None else None
        return (key, score) if key is not None and score is not None else None

    def remove(self, bucket: str, key: str) -> None:
        self._order.pop((bucket, key), None)
        self._remove(bucket, key)

    def _remove(self, bucket: str, key: str) -> None:
        b = self._buckets.get(bucket)
        if b is not None and b.remove(key) and not b.keys:
            del self._buckets[bucket]

    def purge(self, sel: Selector) -> int:
        """Drop the vectors of matching entries; returns how many."""
        doomed = [
            (name, key)
            for name, b in self._buckets.items()
            if (sel.model is None or b.model == sel.model) and (sel.scope is None or b.scope == sel.scope)
            for key in b.keys
            if sel.key is None or key == sel.key
        ]
        for name, key in doomed:
            self.remove(name, key)
        return len(doomed)

    def buckets(self) -> int:
        return len(self._buckets)

"""The semantic index shared through Redis: every replica appends the prompts it indexes to one capped
stream (``<prefix>cache:semantic``) and reads the others' from it, so a paraphrase answered by one
replica is a semantic hit on all of them.

A stream item carries what a search needs (the exact-cache key, bucket, model, scope, the float32 unit
vector, created and expiry, in one field) but not the answer: that is in the shared exact tier under
the same key (``cache/shared.py``), written on the same connection just before. Each replica keeps its
own numpy matrix and pulls new items with ``XREAD`` from its cursor every
``cache.semantic.sync_seconds``; a replica that starts reads the whole stream (at most ``max_entries``
items, ``MAXLEN ~``).

The purge stream of the shared tier is read here too, from a cursor kept on disk, so that rows this
replica persisted (``semantic_store.py``) follow purges made while it was down.

Redis trouble never fails a request: a publish is skipped, a pull returns nothing (counted in the
shared tier's ``errors``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from adaptive_gateway.cache.entry import Selector
from adaptive_gateway.cache.semantic_store import SemanticRow
from adaptive_gateway.cache.shared import SharedTier
from adaptive_gateway.state.base import StateUnavailable
from adaptive_gateway.state.resp import RespError

PULL_BATCH = 200  # items per XREAD: the RESP parser re-reads a reply that arrives in pieces
_FAILURES = (StateUnavailable, RespError, OSError, ValueError, IndexError, msgspec.DecodeError)


class _Head(msgspec.Struct, array_like=True, frozen=True):
    """A stream item is one field: this header as JSON, a newline, the float32 vector."""

    key: str
    bucket: str
    model: str
    scope: str
    created: float
    expires: float
    origin: str


_ENCODER = msgspec.json.Encoder()
_HEAD_DECODER = msgspec.json.Decoder(_Head)


class SharedSemantic:
    def __init__(self, tier: SharedTier, max_entries: int, origin: str) -> None:
        self.tier = tier
        self.client = tier.client
        self.stream = tier.base + "semantic"
        self.max_entries = max_entries
        self.origin = origin  # this replica: its own items are skipped when pulled
        self.cursor = "0-0"  # the last stream id pulled
        # whether the call that returned last went through: read right after awaiting a call (set just
        # before each call returns, so another task's call in the meantime cannot have changed it)
        self.ok = True

    def _failed(self, exc: Exception) -> None:
        self.tier.errors += 1
        self.tier.last_error = f"semantic stream: {exc}"
        self.ok = False

    async def publish(self, row: SemanticRow) -> None:
        head = _Head(row.key, row.bucket, row.model, row.scope, row.created, row.expires, self.origin)
        try:
            record = _ENCODER.encode(head) + b"\n" + row.vector
            await self.client.execute("XADD", self.stream, "MAXLEN", "~", self.max_entries, "*", "r", record)
        except _FAILURES as exc:
            self._failed(exc)
            return
        self.ok = True

    async def pull(self, now: float) -> tuple[list[SemanticRow], bool]:
        """Items other replicas appended since the last pull and not expired at ``now``, and whether
        more are waiting (a full batch)."""
        try:
            reply = await self.client.execute(
                "XREAD", "COUNT", PULL_BATCH, "STREAMS", self.stream, self.cursor
            )
            out, n = [], 0
            for _stream, items in reply or []:
                for ident, raw in items:
                    self.cursor, n = ident.decode(), n + 1
                    head, _, vector = raw[1].partition(b"\n")
                    h = _HEAD_DECODER.decode(head)
                    if h.origin != self.origin and h.expires > now:
                        out.append(
                            SemanticRow(h.key, h.bucket, h.model, h.scope, vector, h.created, h.expires)
                        )
        except _FAILURES as exc:
            self._failed(exc)
            return [], False
        self.ok = True
        return out, n >= PULL_BATCH

    async def purges_since(self, cursor: str) -> tuple[list[Selector], str, bool]:
        """Purges after ``cursor`` in the shared tier's purge stream, the new cursor, and whether some
        may have been trimmed away unseen (the stream is capped)."""
        try:
            first = await self.client.execute("XRANGE", self.tier.purge_stream, "-", "+", "COUNT", 1)
            missed = bool(first) and cursor != "0-0" and _id(first[0][0].decode()) > _id(cursor)
            reply = await self.client.execute(
                "XREAD", "COUNT", PULL_BATCH, "STREAMS", self.tier.purge_stream, cursor
            )
        except _FAILURES as exc:
            self._failed(exc)
            return [], cursor, False
        self.ok = True
        out: list[Selector] = []
        for _stream, items in reply or []:
            for ident, raw in items:
                cursor = ident.decode()
                out.append(_selector(_fields(raw)))
        return out, cursor, missed

    async def last_purge(self) -> str | None:
        """The id of the newest purge, "0-0" when there is none, None when Redis did not answer."""
        try:
            last = await self.client.execute("XREVRANGE", self.tier.purge_stream, "+", "-", "COUNT", 1)
        except _FAILURES as exc:
            self._failed(exc)
            return None
        self.ok = True
        return str(last[0][0].decode()) if last else "0-0"


def _fields(raw: list[Any]) -> dict[str, bytes]:
    return {raw[i].decode(): raw[i + 1] for i in range(0, len(raw) - 1, 2)}


def _selector(f: dict[str, bytes]) -> Selector:
    model, scope, key = (f.get(name, b"").decode() or None for name in ("model", "scope", "key"))
    return Selector(model, scope, key)


def _id(ident: str) -> tuple[int, int]:
    ms, _, seq = ident.partition("-")
    return int(ms), int(seq or 0)

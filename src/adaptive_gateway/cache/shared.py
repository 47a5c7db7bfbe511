"""The shared tier: entries in Redis (``state.redis_url``), seen by every replica.

Key names are ``<prefix>cache:e:<scope hash>:<model hash>:<key>`` so that a purge by model, scope or
key is one ``SCAN MATCH`` pattern. Redis expires entries itself (``SET ... PX``); readers also check
the expiry in the entry against their own clock. Purges are appended to a capped stream
(``<prefix>cache:purges``) that every replica polls to drop the same entries from its in-process tier.

Redis trouble never fails a request: a lookup that cannot reach Redis is a miss and a store is skipped
(counted in ``errors``).
"""

from __future__ import annotations

import re
from typing import Any

from adaptive_gateway.cache.entry import Entry, Selector
from adaptive_gateway.cache.keys import short_hash
from adaptive_gateway.state.base import StateUnavailable
from adaptive_gateway.state.resp import RespClient, RespError

PURGE_LOG_LENGTH = 1000
_GLOB = re.compile(r"([*?\[\]\\])")
_FAILURES = (StateUnavailable, RespError, OSError)


class SharedTier:
    def __init__(self, url: str, prefix: str, timeout: float = 0.25) -> None:
        self.client = RespClient(url, timeout=timeout)
        self.base = prefix + "cache:"
        self.purge_stream = self.base + "purges"
        self._seen = "0-0"  # the last purge-stream id applied
        self.errors = 0
        self.last_error = ""

    @property
    def where(self) -> str:
        return self.client.where

    def name(self, model: str, scope: str, key: str) -> str:
        return f"{self.base}e:{short_hash(scope)}:{short_hash(model)}:{key}"

    def pattern(self, sel: Selector) -> str:
        scope = short_hash(sel.scope) if sel.scope is not None else "*"
        model = short_hash(sel.model) if sel.model is not None else "*"
        key = sel.key if sel.key is not None and sel.key.isalnum() else "*"
        base = _GLOB.sub(r"\\\1", self.base)
        return f"{base}e:{scope}:{model}:{key}"

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        self.last_error = str(exc)

    async def get(self, model: str, scope: str, key: str) -> Entry | None:
        try:
            raw = await self.client.execute("GET", self.name(model, scope, key))
        except _FAILURES as exc:
            self._failed(exc)
            return None
        return Entry.from_bytes(raw) if isinstance(raw, bytes) else None

    async def put(self, entry: Entry, ttl: float) -> None:
        try:
            name = self.name(entry.model, entry.scope, entry.key)
            await self.client.execute("SET", name, entry.to_bytes(), "PX", max(int(ttl * 1000), 1))
        except _FAILURES as exc:
            self._failed(exc)

    async def purge(self, sel: Selector) -> int:
        """Delete the matching entries and tell the other replicas; returns how many keys went."""
        pattern, cursor, deleted = self.pattern(sel), b"0", 0
        while True:
            reply = await self.client.execute("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            cursor, names = reply[0], [n for n in reply[1] if sel.key is None or n.endswith(sel.key.encode())]
            if names:
                deleted += int(await self.client.execute("UNLINK", *names))
            if cursor in (b"0", 0, "0"):
                break
        fields = [v for name, value in sel.as_dict().items() for v in (name, value or "")]
        await self.client.execute("XADD", self.purge_stream, "MAXLEN", "~", PURGE_LOG_LENGTH, "*", *fields)
        return deleted

    async def start(self) -> None:
        """Skip purges made before this replica started (its in-process tier is empty)."""
        try:
            last = await self.client.execute("XREVRANGE", self.purge_stream, "+", "-", "COUNT", 1)
        except _FAILURES as exc:
            self._failed(exc)
            return
        if last:
            self._seen = last[0][0].decode()

    async def new_purges(self) -> list[Selector]:
        """Purges other replicas (or this one) made since the last call."""
        try:
            reply = await self.client.execute("XREAD", "COUNT", 100, "STREAMS", self.purge_stream, self._seen)
        except _FAILURES as exc:
            self._failed(exc)
            return []
        out: list[Selector] = []
        for _stream, items in reply or []:
            for ident, fields in items:
                self._seen = ident.decode()
                out.append(_selector(fields))
        return out

    async def ping(self) -> tuple[bool, str]:
        try:
            await self.client.execute("PING")
        except _FAILURES as exc:
            return False, f"redis at {self.where}: {exc}"
        return True, f"redis at {self.where}"

    async def close(self) -> None:
        await self.client.close()


def _selector(fields: list[Any]) -> Selector:
    values = {fields[i].decode(): fields[i + 1].decode() or None for i in range(0, len(fields) - 1, 2)}
    return Selector(values.get("model"), values.get("scope"), values.get("key"))

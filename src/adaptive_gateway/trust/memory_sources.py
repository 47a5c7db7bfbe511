"""Shared-memory items as context sources: their trust levels raise the level of the requests that
may carry them.

Two ways in, both keyed by the gateway key (never shared between keys):

* **reads**: when an MCP client reads or searches shared memory through the gateway's ``memory_*``
  tools, the memory service reports the items it handed out (:meth:`MemoryReads.handed_out`); for
  ``trust.memory.reads_ttl_seconds`` afterwards the same key's LLM requests count those items as
  context sources (the client has them in its context now), so a ``confidential`` note read over MCP
  keeps the next chat request away from hosted providers;
* **names**: a request may name items in ``x-context-sources: memory:<id>`` without a level; the
  gateway then looks up the item's stored level (:meth:`MemoryReads.resolve`).

Sources are named ``memory:<id>`` (``memory:<namespace>/<id>`` outside the default namespace), the
name the trust reasons and receipts show. Nothing here reads the memory store itself: ``lookup`` is
set by the extension that owns it. State lives on this object (one per app), nothing module-level.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from adaptive_gateway.trust.levels import TrustLevel

PREFIX = "memory:"
DEFAULT_NAMESPACE = "default"
ItemLevel = Callable[[str], Awaitable[str | None]]  # "q3" / "team/q3" -> "confidential", None: unknown


def source_name(item_id: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    """``memory:<id>``, or ``memory:<namespace>/<id>`` outside the default namespace."""
    return f"{PREFIX}{item_id}" if namespace == DEFAULT_NAMESPACE else f"{PREFIX}{namespace}/{item_id}"


def principal_key(principal: object) -> str | None:
    """Whose reads these are: the key's kind and id (``virtual:key_42``, ``master:master``)."""
    pid = getattr(principal, "id", None)
    return f"{getattr(principal, 'kind', '')}:{pid}" if pid else None


@dataclass(slots=True)
class _Read:
    level: TrustLevel
    at: float


class MemoryReads:
    """Which memory items each key was handed, when, at which level; plus the level lookup."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_items: int = 64, max_keys: int = 10_000
    ) -> None:
        self.clock = clock
        self.max_items = max_items  # per key; the lowest level, oldest first, goes beyond that
        self.max_keys = max_keys
        self.lookup: ItemLevel | None = None  # set when a memory store is available
        self._reads: dict[str, dict[str, _Read]] = {}

    def handed_out(self, principal: object, items: Iterable[tuple[str, str]]) -> None:
        """Record that ``principal`` was just given the items ``(source name, level)``."""
        key = principal_key(principal)
        if key is None:
            return
        now = self.clock()
        reads = self._reads.pop(key, None) or {}
        for name, level in items:
            reads.pop(name, None)  # re-inserted: the newest read is last
            reads[name] = _Read(TrustLevel.parse(level), now)
        while len(reads) > self.max_items:
            del reads[min(reads, key=lambda n: (reads[n].level, reads[n].at))]
        self._reads[key] = reads  # the most recently active key is last
        if len(self._reads) > self.max_keys:
            del self._reads[next(iter(self._reads))]

    def recent(self, principal: object, ttl: float) -> dict[str, TrustLevel]:
        """The items ``principal`` was handed within the last ``ttl`` seconds, with their levels."""
        key = principal_key(principal)
        reads = self._reads.get(key) if key is not None and ttl > 0 else None
        if not reads:
            return {}
        oldest = self.clock() - ttl
        expired = [name for name, read in reads.items() if read.at < oldest]
        for name in expired:
            del reads[name]
        if not reads:
            del self._reads[key]  # type: ignore[arg-type]  # key is not None here
        return {name: read.level for name, read in reads.items()}

    async def resolve(self, names: Iterable[str]) -> dict[str, TrustLevel]:
        """The stored levels of the named items (``memory:<id>``); ``LookupError`` naming the first
        one that cannot be looked up."""
        out: dict[str, TrustLevel] = {}
        for name in names:
            item = name.removeprefix(PREFIX)
            level = await self.lookup(item) if self.lookup is not None and item else None
            if level is None:
                why = "no such memory item" if self.lookup is not None else "no memory store in this gateway"
                raise LookupError(f"{name!r}: {why}; give its level ({name}=<level>)")
            out[name] = TrustLevel.parse(level)
        return out

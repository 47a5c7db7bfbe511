"""The shared memory as the MCP tools use it: one store per process, created on first use, and every
call run in a worker thread (the memory package is synchronous: git subprocesses and file locks).

The service also tells listeners (the trust extension) which items a client was handed, and looks up
an item's trust level, so memory read over MCP counts as a context source of that key's requests
(``trust/memory_sources.py``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from adaptive_gateway.mcp.context import ToolError
from adaptive_gateway.mcp.guard import ContentGuard
from adaptive_gateway.memory import (
    HandoffBook,
    MemorySearch,
    MemoryStore,
    MemoryStoreError,
    MemorySync,
    TrustLevel,
    default_root,
)
from adaptive_gateway.memory.frontmatter import read_trust_level
from adaptive_gateway.trust.memory_sources import source_name

T = TypeVar("T")
# (the caller's principal, [(source name "memory:<id>", trust level)]) for every item handed out
HandOutListener = Callable[[object, Sequence[tuple[str, str]]], None]


class MemoryService:
    """Lazily opens the memory repository (``root``, default ``$ADAPTIVE_GATEWAY_HOME/memory``)."""

    def __init__(self, guard: ContentGuard, root: Path | None = None) -> None:
        self.guard = guard
        self.root = root
        self._lock = threading.Lock()
        self._store: MemoryStore | None = None
        self._search: MemorySearch | None = None
        self._sync: MemorySync | None = None
        self.on_handout: list[HandOutListener] = []

    def repository_exists(self) -> bool:
        """Whether the memory repository is already on disk (checking does not create it)."""
        return ((self.root or default_root()).expanduser() / ".git").exists()

    @property
    def store(self) -> MemoryStore:
        with self._lock:
            if self._store is None:
                self._store = MemoryStore(self.root, author="gateway")
            return self._store

    @property
    def search(self) -> MemorySearch:
        store = self.store
        with self._lock:
            if self._search is None:
                self._search = MemorySearch(store)
            return self._search

    @property
    def sync(self) -> MemorySync:
        store = self.store
        with self._lock:
            if self._sync is None:
                self._sync = MemorySync(store)
            return self._sync

    @property
    def handoffs(self) -> HandoffBook:
        return HandoffBook(self.store)

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a worker thread (it may open the repository, run git, take the lock)."""
        return await anyio.to_thread.run_sync(fn)

    def handed_out(self, principal: object, items: Iterable[tuple[str, str, str]]) -> None:
        """Tell the listeners that ``principal`` was given these items: ``(id, namespace, level)``."""
        if not self.on_handout:
            return
        sources = [(source_name(item_id, namespace), level) for item_id, namespace, level in items]
        for listener in self.on_handout if sources else ():
            listener(principal, sources)

    async def level_of(self, name: str) -> str | None:
        """The trust level of item ``<id>`` or ``<namespace>/<id>`` (the highest, when the id is in
        several namespaces); None when there is no such item. Never creates the repository."""
        namespace, _, item_id = name.rpartition("/")
        if not item_id or not self.repository_exists():
            return None

        def find() -> str | None:
            levels = [
                read_trust_level(path.read_text(encoding="utf-8")) or TrustLevel.INTERNAL  # the default
                for path in self.store.item_paths(namespace or None)
                if path.stem == item_id
            ]
            return max(levels, key=lambda level: level.rank).value if levels else None

        try:
            return await self.run(find)
        except (MemoryStoreError, OSError):
            return None

    def refuse_secrets(self, *texts: str) -> None:
        """Shared memory is synced to git remotes: refuse text that carries a secret."""
        found = sorted({t for text in texts if text for t in self.guard.scan(text).secret_types})
        if found:
            raise ToolError(
                "refused: the text contains a secret (" + ", ".join(found) + "); shared memory is synced "
                "to git remotes, so store a reference (e.g. the environment variable's name) instead",
                {"type": "secret_refused", "findings": found},
            )

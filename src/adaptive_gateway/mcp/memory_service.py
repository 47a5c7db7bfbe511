"""The shared memory as the MCP tools use it: one store per process, created on first use, and every
call run in a worker thread (the memory package is synchronous: git subprocesses and file locks)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from adaptive_gateway.mcp.context import ToolError
from adaptive_gateway.mcp.guard import ContentGuard
from adaptive_gateway.memory import HandoffBook, MemorySearch, MemoryStore, MemorySync, default_root

T = TypeVar("T")


class MemoryService:
    """Lazily opens the memory repository (``root``, default ``$ADAPTIVE_GATEWAY_HOME/memory``)."""

    def __init__(self, guard: ContentGuard, root: Path | None = None) -> None:
        self.guard = guard
        self.root = root
        self._lock = threading.Lock()
        self._store: MemoryStore | None = None
        self._search: MemorySearch | None = None
        self._sync: MemorySync | None = None

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

    def refuse_secrets(self, *texts: str) -> None:
        """Shared memory is synced to git remotes: refuse text that carries a secret."""
        found = sorted({t for text in texts if text for t in self.guard.scan(text).secret_types})
        if found:
            raise ToolError(
                "refused: the text contains a secret (" + ", ".join(found) + "); shared memory is synced "
                "to git remotes, so store a reference (e.g. the environment variable's name) instead",
                {"type": "secret_refused", "findings": found},
            )

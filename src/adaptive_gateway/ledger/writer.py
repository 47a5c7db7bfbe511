"""Write-behind for receipts and run folders: the request path only enqueues.

:meth:`BackgroundWriter.submit` is O(1) and never blocks; a task collects what was submitted and hands
at most one batch per ``interval`` to ``process`` in a worker thread, where the file I/O happens. Submit
compact records (serialized bytes, not request objects): whatever is queued stays alive until the
batch is written, and a queue of live request contexts measurably slows the garbage collector for
every request. A full queue drops the item and counts it rather than slowing requests down. ``stop``
drains what is pending.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from adaptive_gateway.tasks import cancel

T = TypeVar("T")
log = logging.getLogger("adaptive_gateway.ledger")


class BackgroundWriter(Generic[T]):
    def __init__(
        self,
        process: Callable[[list[T]], None],
        *,
        max_pending: int = 10_000,
        interval: float = 0.1,
        on_take: Callable[[], None] | None = None,
    ) -> None:
        self.process = process
        # called on the event loop as a batch is taken for writing: a submitter that keeps appending to
        # an item it submitted (a buffer of lines) lets go of it here, before the worker thread reads it
        self.on_take = on_take
        self.max_pending = max_pending
        self.interval = interval
        self.dropped = 0
        self.written = 0
        self._pending: list[T] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle: asyncio.Event | None = None

    def submit(self, item: T) -> bool:
        """Queue ``item``; False (and counted in ``dropped``) when the queue is full."""
        if len(self._pending) >= self.max_pending:
            self.dropped += 1
            return False
        self._pending.append(item)
        if self._task is None:
            self._start_lazily()
        elif self._wake is not None:
            self._wake.set()
        return True

    def _start_lazily(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): items wait for start() or flush_now()
        self.start()

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._idle = asyncio.Event()
            self._idle.set()
            self._task = asyncio.create_task(self._run(), name="ledger-writer")
            if self._pending:
                self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None and self._idle is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.interval)  # at most one batch per interval: few, large writes
            batch = self._take()
            if not batch:
                continue
            self._idle.clear()
            try:
                await self._write(batch)
            finally:
                self._idle.set()

    def _take(self) -> list[T]:
        batch, self._pending = self._pending, []
        if self.on_take is not None:
            self.on_take()
        return batch

    async def _write(self, batch: list[T]) -> None:
        await asyncio.to_thread(self._process, batch)

    def _process(self, batch: list[T]) -> None:
        try:
            self.process(batch)
            self.written += len(batch)
        except Exception:  # a broken disk must not take requests down; say so in the log
            log.exception("writing %d ledger records failed", len(batch))

    async def flush(self) -> None:
        """Write everything submitted so far (tests, shutdown)."""
        if self._idle is not None:
            await self._idle.wait()
        batch = self._take()
        if batch:
            await self._write(batch)

    def flush_now(self) -> None:
        """Synchronous flush for callers without an event loop."""
        batch = self._take()
        if batch:
            self._process(batch)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)
        await self.flush()

"""One structured JSON line per request, written behind the request.

Lines are buffered in memory and flushed by a background task (or when the buffer is large), so
the hot path never blocks on a write. Prompt text, keys and secrets are never part of a line.
"""

from __future__ import annotations

import asyncio
import sys
import time
from contextlib import suppress
from typing import IO, Any

import orjson


class RequestLog:
    def __init__(self, path: str | None = None, enabled: bool = True, flush_interval: float = 0.2) -> None:
        self.enabled = enabled
        self.path = path
        self.flush_interval = flush_interval
        self._buf: list[bytes] = []
        self._task: asyncio.Task[None] | None = None
        self._out: IO[bytes] | None = None

    def _stream(self) -> IO[bytes]:
        if self._out is None:
            self._out = open(self.path, "ab") if self.path else sys.stderr.buffer  # noqa: SIM115
        return self._out

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record["ts"] = round(time.time(), 3)
        self._buf.append(orjson.dumps(record) + b"\n")
        if len(self._buf) >= 4096:
            self.flush()

    def flush(self) -> None:
        if not self._buf:
            return
        data, self._buf = b"".join(self._buf), []
        out = self._stream()
        with suppress(OSError, ValueError):
            out.write(data)
            out.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            self.flush()

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()
        if self._out is not None and self.path:
            self._out.close()
            self._out = None

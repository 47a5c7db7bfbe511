"""One structured JSON line per request, written behind the request.

Lines are buffered in memory and flushed by a background task (or when the buffer is large), so
the hot path never blocks on a write. The buffer is one ``bytearray`` each line is appended to, not a
list of lines: keeping thousands of fresh ~500-byte ``bytes`` objects alive until the flush cost ~4 µs
a line (new memory, page faults) where appending one and dropping it costs ~0.3 (docs/benchmarks.md).

Keys and secrets are never part of a line (only the key's id and
its public prefix); prompt and answer text only when ``observability.logs.record_content`` is on and the
request's trust level is at or below ``record_max_level`` (:func:`record_of`).
"""

from __future__ import annotations

import asyncio
import sys
import time
from contextlib import suppress
from typing import IO, Any

import orjson

from adaptive_gateway.numbers import fround
from adaptive_gateway.observability.sample import Sample
from adaptive_gateway.tasks import cancel

_FLUSH_BYTES = 2 << 20  # written at once past this (else every flush_interval)


class RequestLog:
    def __init__(self, path: str | None = None, enabled: bool = True, flush_interval: float = 0.2) -> None:
        self.enabled = enabled
        self.path = path
        self.flush_interval = flush_interval
        self._buf = bytearray()
        self._task: asyncio.Task[None] | None = None
        self._out: IO[bytes] | None = None

    def _stream(self) -> IO[bytes]:
        if self._out is None:
            self._out = open(self.path, "ab") if self.path else sys.stderr.buffer  # noqa: SIM115
        return self._out

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record["ts"] = fround(time.time(), 3)
        buf = self._buf
        buf += orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        if len(buf) >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._buf:
            return
        data, self._buf = self._buf, bytearray()
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
        await cancel(self._task)
        self._task = None
        self.flush()
        if self._out is not None and self.path:
            self._out.close()
            self._out = None


def _ms(seconds: float | None) -> float | None:
    return fround(seconds * 1000, 2) if seconds is not None else None


def record_of(s: Sample, attempts: int, content: dict[str, Any] | None = None) -> dict[str, Any]:
    """The log line of a finished request; ``content``: recorded text, already cleared for the log."""
    record: dict[str, Any] = {
        "request_id": s.request_id,
        "route": s.route,
        "status": s.status,
        "latency_ms": fround(s.latency_s * 1000, 2),
        "key": s.key_prefix or None,
        "key_id": s.key or None,
        "tenant": s.tenant or None,
        "client": s.client,
        "model": s.model,
        "deployment": s.deployment or None,
        "provider": s.provider or None,
        "stream": s.stream,
        "attempts": attempts,
        "retries": s.retries,
        "fallbacks": s.fallbacks,
        "upstream_ms": _ms(s.upstream_s),
        "ttft_ms": _ms(s.ttft_s),
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "cost_usd": fround(s.cost, 8),
        "trust_level": s.trust_level,
        "trace_id": s.trace_id,
        "receipt": s.receipt_id,
        "cache": s.cache,
        "error": s.error,
    }
    if s.rejection:
        record["rejected"] = s.rejection
    if s.policy_block:
        record["blocked"] = s.policy_block
    if content:
        record["content"] = content
    return record

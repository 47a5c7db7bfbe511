"""Prompt and answer recording into the store (``observability.recording``, docs/observability.md).

The finisher hands each finished request to :meth:`Recorder.offer`, which decides in a few attribute
reads whether it may be recorded and, if so, queues one row for the store's batch writer
(``store/recordings.py``): nothing is written on the request path.

What may be recorded, and how:

* chat requests that passed the pipeline's stages (a request blocked by policy, refused with 429 or
  rejected before routing is never recorded), at or below ``max_level`` per the trust stage's
  decision (unclassified requests are not recorded), with no unredacted secret finding;
* the messages as sent upstream, i.e. after redaction; the answer with this request's redacted values
  put back as their placeholders (the client got them restored, the store does not);
* per key: ``keys: all`` records every key unless its metadata says ``"record": false``;
  ``opted_in`` only keys whose metadata says ``"record": true``.

A background task prunes rows past ``retention_days`` and beyond ``max_rows`` every
``prune_interval_seconds``, and re-reads the keys' record flags when the key table changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from adaptive_gateway.config.observability_schema import RecordingConfig
from adaptive_gateway.observability.sample import Sample
from adaptive_gateway.pipeline.context import Answered, RequestContext
from adaptive_gateway.pipeline.execute import OpenStream
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.providers.base import StreamParser
from adaptive_gateway.server.observability_sample import (
    LEVELS,
    RESPONSE_NOTE,
    STAGE_NOTE,
    TRUST_NOTE,
    response_view,
)
from adaptive_gateway.store.db import Store
from adaptive_gateway.store.models import NANO, utcnow
from adaptive_gateway.store.recordings import RecordingWriter, prune_recordings, record_flags
from adaptive_gateway.tasks import cancel
from adaptive_gateway.types import ChatResponse, TextDelta

log = logging.getLogger("adaptive_gateway.observability")
STREAM_NOTE = "obs.recorded_stream"
FLAGS_CHECK_S = 1.0


def recording_config(ctx: RequestContext) -> RecordingConfig:
    return ctx.config.source.observability.recording


def _decision(ctx: RequestContext) -> Any:
    return ctx.notes.get(TRUST_NOTE)


def _level(decision: Any) -> str | None:
    label = getattr(getattr(decision, "level", None), "label", None)
    return label if isinstance(label, str) else None


def _unredacted_secret(decision: Any) -> bool:
    findings = getattr(decision, "findings", None) or {}
    redacted = getattr(decision, "redaction", None) is not None
    return not redacted and any(str(kind).startswith("secret") for kind in findings)


def placeholders_back(text: str, mapping: Mapping[str, str]) -> str:
    """``text`` with every redacted value replaced by its placeholder again (longest value first)."""
    for placeholder, value in sorted(mapping.items(), key=lambda kv: -len(kv[1])):
        if value:
            text = text.replace(value, placeholder)
    return text


class StreamText:
    """The answer text of a stream, read on the side from the upstream bytes with the adapter's own
    parser (the client's bytes are not touched; a parse failure only stops the capture)."""

    def __init__(self, parser: StreamParser) -> None:
        self.parser = parser
        self.parts: dict[int, list[str]] = {}
        self.broken = False

    def feed(self, chunk: bytes) -> None:
        if self.broken:
            return
        try:
            for ev in self.parser.feed(chunk):
                if isinstance(ev, TextDelta):
                    self.parts.setdefault(ev.index, []).append(ev.text)
        except Exception:
            self.broken = True

    async def tee(self, first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        self.feed(first)
        async for chunk in rest:
            self.feed(chunk)
            yield chunk

    def text(self) -> str:
        return "".join("".join(self.parts[i]) for i in sorted(self.parts))


class Recorder:
    """``config``: the running config's ``observability.recording`` (read per request and per prune)."""

    def __init__(self, config: Callable[[], RecordingConfig]) -> None:
        self.config = config
        self.writer: RecordingWriter | None = None
        self.flags: dict[str, bool] | None = None  # key id -> "record" flag; None: not read yet
        self._keys_version: Callable[[], int] = lambda: 0
        self._seen_version: int | None = None
        self._task: asyncio.Task[None] | None = None

    # ---- the request path --------------------------------------------------------------------------

    def allowed(self, ctx: RequestContext) -> bool:
        """Whether ``ctx`` may be recorded (see the module docstring)."""
        if ctx.request is None or STAGE_NOTE in ctx.notes:
            return False
        cfg = recording_config(ctx)
        decision = _decision(ctx)
        level = _level(decision)
        if level is None or LEVELS.index(level) > LEVELS.index(cfg.max_level):
            return False
        verdict = getattr(decision, "verdict", None)
        if getattr(verdict, "kind", None) == "block" or _unredacted_secret(decision):
            return False
        flags, p = self.flags, ctx.principal
        if flags is None:  # until the keys' flags are known, an opted-out key could slip through
            return False
        flag = flags.get(p.id) if p is not None else None
        return flag is not False and (cfg.keys == "all" or flag is True)

    def offer(self, ctx: RequestContext, s: Sample) -> None:
        """Queue ``ctx`` for the store if it may be recorded (no I/O)."""
        if self.writer is not None and self.allowed(ctx):
            self.writer.add(self.row(ctx, s))

    def row(self, ctx: RequestContext, s: Sample) -> dict[str, Any]:
        assert ctx.request is not None
        limit = recording_config(ctx).max_chars
        decision = _decision(ctx)
        redaction = getattr(decision, "redaction", None)
        mapping: Mapping[str, str] = getattr(decision, "mapping", None) or {}
        answer = self._answer(ctx)
        return {
            "request_id": s.request_id,
            "receipt_id": s.receipt_id,
            "created_at": utcnow(),
            "key_id": s.key or None,
            "key_prefix": s.key_prefix or None,
            "tenant_id": s.tenant or None,
            "model": s.model,
            "provider": s.provider or None,
            "deployment": s.deployment or None,
            "route": s.route,
            "status": s.status,
            "stream": s.stream,
            "trust_level": s.trust_level,
            "trace_id": s.trace_id,
            "input_tokens": s.input_tokens,
            "output_tokens": s.output_tokens,
            "cost_nano": round(s.cost * NANO),
            "latency_ms": round(s.latency_s * 1000, 2),
            "messages": [{"role": m.role, "text": m.text()[:limit]} for m in ctx.request.messages],
            "response": placeholders_back(answer, mapping)[:limit] if answer is not None else None,
            "redacted": {"mode": redaction.mode, "counts": dict(redaction.counts)} if redaction else None,
            "error": s.error,
        }

    @staticmethod
    def _answer(ctx: RequestContext) -> str | None:
        resp = ctx.notes.get(RESPONSE_NOTE)
        if isinstance(resp, ChatResponse):
            return response_view(resp)[2]
        captured = ctx.notes.get(STREAM_NOTE)
        return captured.text() if isinstance(captured, StreamText) else None

    def install(self, gw: Gateway) -> None:
        """Capture streamed answers of requests that will be recorded (non-streamed answers are kept by
        the observability hooks' ``complete`` wrapper)."""
        open_stream = gw.open_stream

        async def opened(ctx: RequestContext) -> OpenStream | Answered:
            stream = await open_stream(ctx)
            if isinstance(stream, Answered):  # a cache hit replayed as a stream
                ctx.notes[RESPONSE_NOTE] = stream.response
                return stream
            adapter = gw.adapters.get(stream.deployment.provider.adapter)
            if adapter is None or ctx.request is None or not self.allowed(ctx):
                return stream
            capture = ctx.notes[STREAM_NOTE] = StreamText(adapter.stream_parser(ctx.request))
            return dataclasses.replace(stream, rest=capture.tee(stream.first, stream.rest))

        gw.open_stream = opened  # type: ignore[method-assign]

    # ---- lifecycle and housekeeping ----------------------------------------------------------------

    async def start(self, store: Store, keys_version: Callable[[], int]) -> None:
        self.writer = RecordingWriter(store)
        self.writer.start()
        self._keys_version = keys_version
        try:
            await self.refresh_flags()
        except Exception as exc:  # the store is down: nothing is recorded until the flags are read
            log.warning("recordings: reading the keys' record flags failed: %s", exc)
        self._task = asyncio.get_running_loop().create_task(self._housekeeping())

    async def refresh_flags(self) -> None:
        """Re-read the keys' record flags if the key table changed since the last read."""
        version = self._keys_version()
        if self.writer is None or version == self._seen_version:
            return
        async with self.writer.store.engine.connect() as conn:
            self.flags = await record_flags(conn)
        self._seen_version = version

    async def prune(self) -> int:
        """Delete recordings past ``retention_days`` and the oldest beyond ``max_rows``."""
        if self.writer is None:
            return 0
        cfg = self.config()
        cutoff = utcnow() - dt.timedelta(days=cfg.retention_days)
        async with self.writer.store.engine.begin() as conn:
            gone = await prune_recordings(conn, cutoff, cfg.max_rows)
        if gone:
            log.info("pruned %d recording(s)", gone)
        return gone

    async def _housekeeping(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + min(5.0, self.config().prune_interval_seconds)
        while True:
            await asyncio.sleep(FLAGS_CHECK_S)
            try:
                await self.refresh_flags()
                if loop.time() >= next_prune:
                    next_prune = loop.time() + self.config().prune_interval_seconds
                    await self.prune()
            except Exception as exc:  # the store may be down: try again next time
                log.warning("recordings housekeeping failed: %s", exc)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        if self.writer is not None:
            await self.writer.stop()

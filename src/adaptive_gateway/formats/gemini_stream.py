"""Gemini ``streamGenerateContent`` chunks <-> canonical stream events. Pure.

Gemini streams whole ``functionCall`` parts (never partial arguments), so the decoder emits a start and
one complete arguments delta per call, and the encoder accumulates argument deltas from other
upstreams into one complete ``functionCall`` part per call.
"""

from __future__ import annotations

from typing import Any

import orjson

from adaptive_gateway.errors import UpstreamError
from adaptive_gateway.formats.gemini import (
    FINISH_OUT,
    decode_usage,
    encode_usage,
    finish_reason,
    g,
    new_call_id,
)
from adaptive_gateway.types import (
    FinishReason,
    ReasoningDelta,
    StreamEvent,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)


class StreamDecoder:
    """Decoded Gemini chunks -> canonical events.

    A thought signature is forwarded (as a signature-only reasoning delta) while the answer is still
    in its reasoning phase; one arriving after text or a call is dropped from the stream rather than
    opening a misplaced reasoning block in the client's format.
    """

    __slots__ = ("_answering", "_calls", "_started", "_usage")

    def __init__(self) -> None:
        self._started = False
        self._answering = False
        self._calls: dict[int, int] = {}  # candidate index -> tool calls so far
        self._usage: Usage | None = None

    def _parts(self, parts: list[Any], idx: int, out: list[StreamEvent]) -> None:
        for part in parts:
            if not isinstance(part, dict):
                continue
            sig = g(part, "thoughtSignature")
            if sig and not self._answering:
                out.append(ReasoningDelta("", signature=sig, index=idx))
            call = g(part, "functionCall")
            if isinstance(call, dict):
                self._answering = True
                k = self._calls.get(idx, 0)
                self._calls[idx] = k + 1
                out.append(
                    ToolCallStart(k, call.get("id") or new_call_id(), str(call.get("name") or ""), idx)
                )
                out.append(ToolCallDelta(k, orjson.dumps(call.get("args") or {}).decode(), idx))
            elif part.get("thought") is True:
                if part.get("text"):
                    out.append(ReasoningDelta(part["text"], index=idx))
            elif part.get("text"):
                self._answering = True
                out.append(TextDelta(part["text"], idx))

    def feed(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if not self._started:
            self._started = True
            out.append(StreamStart(g(chunk, "responseId") or "", g(chunk, "modelVersion") or ""))
        usage = decode_usage(g(chunk, "usageMetadata"))
        if usage is not None:
            self._usage = usage
        for k, cand in enumerate(chunk.get("candidates") or []):
            idx = cand.get("index", k)
            self._parts(g(cand.get("content"), "parts") or [], idx, out)
            reason = g(cand, "finishReason")
            if reason:
                out.append(StreamFinish(finish_reason(reason, bool(self._calls.get(idx))), idx))
        if not chunk.get("candidates") and g(g(chunk, "promptFeedback"), "blockReason"):
            out.append(StreamFinish("content_filter"))
        return out

    def close(self) -> list[StreamEvent]:
        """The usage (cumulative in every chunk; the last one is final) once the stream ended."""
        return [StreamUsage(self._usage)] if self._usage is not None else []


class _PendingCall:
    __slots__ = ("args", "id", "name")

    def __init__(self, id: str, name: str) -> None:
        self.id = id
        self.name = name
        self.args: list[str] = []

    def part(self) -> dict[str, Any]:
        text = "".join(self.args)
        try:
            args = orjson.loads(text) if text.strip() else {}
        except orjson.JSONDecodeError:
            args = None
        if not isinstance(args, dict):
            raise UpstreamError(
                f"upstream streamed arguments for tool '{self.name}' that are not a JSON object: "
                f"{text[:80]!r}",
                status=502,
            )
        return {"functionCall": {"id": self.id, "name": self.name, "args": args}}


class StreamEncoder:
    """Canonical events -> Gemini chunk dicts: text and thought parts as they come, each tool call as
    one complete ``functionCall`` part, and a last chunk with ``finishReason`` and ``usageMetadata``."""

    __slots__ = ("_calls", "_finish", "_signature", "id", "model", "usage")

    def __init__(self, id: str, model: str) -> None:
        self.id = id
        self.model = model
        self.usage: Usage | None = None
        self._calls: dict[tuple[int, int], _PendingCall] = {}
        self._finish: dict[int, FinishReason] = {}
        self._signature: str | None = None

    def _chunk(
        self, parts: list[dict[str, Any]], index: int = 0, finish: str | None = None
    ) -> dict[str, Any]:
        if self._signature is not None and parts:
            parts[0]["thoughtSignature"], self._signature = self._signature, None
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": index}
        if finish is not None:
            cand["finishReason"] = finish
        return {"candidates": [cand], "modelVersion": self.model, "responseId": self.id}

    def _flush_calls(self) -> list[dict[str, Any]]:
        if not self._calls:
            return []
        by_index: dict[int, list[dict[str, Any]]] = {}
        for (idx, _k), call in sorted(self._calls.items()):
            by_index.setdefault(idx, []).append(call.part())
        self._calls.clear()
        return [self._chunk(parts, idx) for idx, parts in by_index.items()]

    def encode(self, ev: StreamEvent) -> list[dict[str, Any]]:
        """Chunks for one event (possibly none: calls and the finish are held until complete)."""
        if isinstance(ev, StreamStart):
            self.id = ev.id or self.id
            self.model = ev.model or self.model
            return []
        if isinstance(ev, ToolCallStart):
            self._calls[(ev.index, ev.tool_index)] = _PendingCall(ev.id or new_call_id(), ev.name)
            return []
        if isinstance(ev, ToolCallDelta):
            call = self._calls.get((ev.index, ev.tool_index))
            if call is not None:
                call.args.append(ev.arguments)
            return []
        if isinstance(ev, StreamUsage):
            self.usage = ev.usage
            return []
        out = self._flush_calls()
        if isinstance(ev, TextDelta) and ev.text:
            out.append(self._chunk([{"text": ev.text}], ev.index))
        elif isinstance(ev, ReasoningDelta):
            if ev.signature:
                self._signature = ev.signature
            if ev.text:
                out.append(self._chunk([{"text": ev.text, "thought": True}], ev.index))
        elif isinstance(ev, StreamFinish):
            self._finish[ev.index] = ev.reason
        return out

    def finish(self) -> list[dict[str, Any]]:
        """Held calls, then the last chunk per candidate with its finish reason (and the usage)."""
        out = self._flush_calls()
        finishes = self._finish or {0: "stop"}
        for idx, reason in finishes.items():
            out.append(self._chunk([{"text": ""}], idx, FINISH_OUT.get(reason, "STOP")))
        if self.usage is not None:
            out[-1]["usageMetadata"] = encode_usage(self.usage)
        return out

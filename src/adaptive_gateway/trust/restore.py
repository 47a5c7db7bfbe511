"""Putting redacted values back into the answer the client sees, and capturing a streamed answer.

Non-streamed: :func:`restore_response` rewrites the canonical choices and, for a passthrough response,
the upstream's decoded body (``raw``) and its bytes, so every wire renders the restored text.
Streamed: :class:`RestoringParser` wraps an adapter's stream parser; each text stream (answer,
reasoning, tool-call arguments, per choice) gets its own :class:`StreamRestorer`, so a placeholder
split across chunks is still restored, and what is held back is flushed before the choice finishes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from adaptive_gateway.config import Deployment
from adaptive_gateway.errors import GatewayError
from adaptive_gateway.providers.base import Adapter, StreamParser, UpstreamRequest
from adaptive_gateway.trust.content import replace_strings
from adaptive_gateway.trust.redaction import StreamRestorer, restore
from adaptive_gateway.types import (
    ChatRequest,
    ChatResponse,
    ReasoningDelta,
    SharedResponse,
    StreamError,
    StreamEvent,
    StreamFinish,
    StreamUsage,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
)


def restore_response(resp: ChatResponse, mapping: Mapping[str, str]) -> None:
    """Restore placeholders in ``resp`` in place (choices, and the passthrough body and bytes)."""
    if not mapping:
        return
    if isinstance(resp, SharedResponse):  # a cached answer other repeats hold too: change a copy
        resp.choices = copy.deepcopy(resp.choices)
    for choice in resp.choices:
        msg = choice.message
        for part in msg.content:
            if part.text:
                part.text = restore(part.text, mapping)
        for call in msg.tool_calls:
            call.arguments = restore(call.arguments, mapping)
        if msg.reasoning:
            msg.reasoning = restore(msg.reasoning, mapping)
    if resp.raw is not None:
        replace_strings(resp.raw, mapping)
        if resp.raw_bytes is not None:
            resp.raw_bytes = orjson.dumps(resp.raw)
    else:  # bytes kept without their decoded body (a recalled cache hit's) would still hold the
        resp.raw_bytes = None  # placeholders: the client format renders the restored choices instead


@dataclass(slots=True)
class StreamCapture:
    """The answer of a stream as the client saw it (for the run ledger)."""

    text: dict[int, list[str]] = field(default_factory=dict)
    tool_calls: dict[tuple[int, int], dict[str, str]] = field(default_factory=dict)
    finish: dict[int, str] = field(default_factory=dict)

    def message(self, index: int = 0) -> dict[str, Any]:
        """Choice ``index`` as an OpenAI chat message."""
        out: dict[str, Any] = {"role": "assistant", "content": "".join(self.text.get(index, []))}
        calls = [c for (i, _), c in sorted(self.tool_calls.items()) if i == index]
        if calls:
            out["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in calls
            ]
        return out


_Key = tuple[str, int, int]  # (stream kind, choice index, tool index)


class RestoringParser:
    """A stream parser that restores placeholders in every text delta (and may capture the answer)."""

    __slots__ = ("_capture", "_inner", "_mapping", "_restorers")

    def __init__(
        self, inner: StreamParser, mapping: Mapping[str, str], capture: StreamCapture | None
    ) -> None:
        self._inner = inner
        self._mapping = mapping
        self._capture = capture
        self._restorers: dict[_Key, StreamRestorer] = {}

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        return self._process(self._inner.feed(chunk))

    def close(self) -> list[StreamEvent]:
        return self._process(self._inner.close()) + self._flush(None)

    def _text(self, key: _Key, text: str) -> str:
        if not self._mapping:
            return text
        restorer = self._restorers.get(key)
        if restorer is None:
            restorer = self._restorers[key] = StreamRestorer(self._mapping)
        return restorer.feed(text)

    def _process(self, events: list[StreamEvent]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for ev in events:
            if isinstance(ev, TextDelta):
                text = self._text(("text", ev.index, 0), ev.text)
                if text:
                    out.append(TextDelta(text, ev.index))
                    self._note_text(ev.index, text)
            elif isinstance(ev, ReasoningDelta) and ev.text:
                text = self._text(("reasoning", ev.index, 0), ev.text)
                if text or ev.signature:
                    out.append(ReasoningDelta(text, ev.signature, ev.index))
            elif isinstance(ev, ToolCallDelta):
                args = self._text(("tool", ev.index, ev.tool_index), ev.arguments)
                if args:
                    out.append(ToolCallDelta(ev.tool_index, args, ev.index))
                    self._note_args(ev.index, ev.tool_index, args)
            elif isinstance(ev, (StreamFinish, StreamUsage, StreamError)):
                out.extend(self._flush(ev.index if isinstance(ev, StreamFinish) else None))
                out.append(ev)
                if isinstance(ev, StreamFinish) and self._capture is not None:
                    self._capture.finish[ev.index] = ev.reason
            else:
                if isinstance(ev, ToolCallStart) and self._capture is not None:
                    self._capture.tool_calls[(ev.index, ev.tool_index)] = {
                        "id": ev.id,
                        "name": ev.name,
                        "arguments": "",
                    }
                out.append(ev)
        return out

    def _flush(self, index: int | None) -> list[StreamEvent]:
        """Held-back text of choice ``index`` (every choice when None), as the deltas it came from."""
        out: list[StreamEvent] = []
        for key in [k for k in self._restorers if index is None or k[1] == index]:
            text = self._restorers.pop(key).flush()
            if not text:
                continue
            kind, choice, tool = key
            if kind == "text":
                out.append(TextDelta(text, choice))
                self._note_text(choice, text)
            elif kind == "reasoning":
                out.append(ReasoningDelta(text, None, choice))
            else:
                out.append(ToolCallDelta(tool, text, choice))
                self._note_args(choice, tool, text)
        return out

    def _note_text(self, index: int, text: str) -> None:
        if self._capture is not None:
            self._capture.text.setdefault(index, []).append(text)

    def _note_args(self, index: int, tool: int, args: str) -> None:
        if self._capture is not None:
            call = self._capture.tool_calls.setdefault((index, tool), {"id": "", "name": "", "arguments": ""})
            call["arguments"] += args


class RestoringAdapter:
    """Wraps the adapter of an opened stream so the proxy decodes and re-renders it (no byte-for-byte
    passthrough: ``native_wire`` is None) through a :class:`RestoringParser`."""

    native_wire: ClassVar[str | None] = None
    kind: ClassVar[str] = "trust-restoring"

    def __init__(self, inner: Adapter, mapping: Mapping[str, str], capture: StreamCapture | None) -> None:
        self.inner = inner
        self.mapping = mapping
        self.capture = capture

    def build(self, req: ChatRequest, dep: Deployment, api_key: str | None) -> UpstreamRequest:
        return self.inner.build(req, dep, api_key)

    def parse(self, body: bytes, req: ChatRequest) -> ChatResponse:
        return self.inner.parse(body, req)

    def stream_parser(self, req: ChatRequest) -> RestoringParser:
        return RestoringParser(self.inner.stream_parser(req), self.mapping, self.capture)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return self.inner.classify_error(status, body, headers)

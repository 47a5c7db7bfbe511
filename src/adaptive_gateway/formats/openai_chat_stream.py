"""OpenAI Chat Completions stream chunks <-> canonical stream events (the streaming half of
``formats/openai_chat.py``, which re-exports these names)."""

from __future__ import annotations

import time
from typing import Any

from adaptive_gateway.formats.openai_shared import FINISH, decode_usage, encode_usage
from adaptive_gateway.types import (
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
    """Chat completion chunks (decoded JSON) -> canonical stream events."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = False

    def feed(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if not self.started:
            self.started = True
            events.append(StreamStart(chunk.get("id") or "", chunk.get("model") or ""))
        for c in chunk.get("choices") or []:
            idx = c.get("index", 0)
            delta = c.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                events.append(ReasoningDelta(reasoning, index=idx))
            if delta.get("content"):
                events.append(TextDelta(delta["content"], idx))
            for tc in delta.get("tool_calls") or []:
                fn = tc.get("function") or {}
                ti = tc.get("index", 0)
                if tc.get("id") or fn.get("name"):
                    events.append(ToolCallStart(ti, tc.get("id") or "", fn.get("name") or "", idx))
                if fn.get("arguments"):
                    events.append(ToolCallDelta(ti, fn["arguments"], idx))
            if c.get("finish_reason"):
                events.append(StreamFinish(FINISH.get(c["finish_reason"], "stop"), idx))
        usage = decode_usage(chunk.get("usage"))
        if usage is not None:
            events.append(StreamUsage(usage))
        return events


class StreamEncoder:
    """Canonical stream events -> chat completion chunk dicts, in the order the OpenAI SDK expects:
    a first chunk with ``delta.role``, content / tool-call deltas, the finish chunk, then (when asked)
    a usage chunk with ``choices: []``.
    """

    __slots__ = ("created", "id", "include_usage", "model", "usage")

    def __init__(self, id: str, model: str, include_usage: bool) -> None:
        self.id = id
        self.model = model
        self.include_usage = include_usage
        self.created = int(time.time())
        self.usage: Usage | None = None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def encode(self, ev: StreamEvent) -> list[dict[str, Any]]:
        """Chunks for one event (possibly none: usage is held until :meth:`finish`)."""
        if isinstance(ev, StreamStart):
            return [self._chunk({"role": "assistant", "content": ""})]
        if isinstance(ev, TextDelta):
            return [self._chunk({"content": ev.text}, index=ev.index)]
        if isinstance(ev, ReasoningDelta):
            return [self._chunk({"reasoning_content": ev.text}, index=ev.index)] if ev.text else []
        if isinstance(ev, ToolCallStart):
            call = {
                "index": ev.tool_index,
                "id": ev.id,
                "type": "function",
                "function": {"name": ev.name, "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]}, index=ev.index)]
        if isinstance(ev, ToolCallDelta):
            call = {"index": ev.tool_index, "function": {"arguments": ev.arguments}}
            return [self._chunk({"tool_calls": [call]}, index=ev.index)]
        if isinstance(ev, StreamFinish):
            return [self._chunk({}, ev.reason, ev.index)]
        if isinstance(ev, StreamUsage):
            self.usage = ev.usage
        return []

    def finish(self) -> list[dict[str, Any]]:
        if self.include_usage and self.usage is not None:
            return [
                {
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": encode_usage(self.usage),
                }
            ]
        return []

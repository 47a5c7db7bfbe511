"""Canonical stream events -> the OpenAI Responses streaming event sequence. Pure.

The sequence follows the SDK's typed events (``openai.types.responses.*Event``) and what Codex needs::

    response.created, response.in_progress
    reasoning: output_item.added, reasoning_summary_part.added, reasoning_summary_text.delta...,
               reasoning_summary_text.done, reasoning_summary_part.done, output_item.done
    message:   output_item.added, content_part.added, output_text.delta..., output_text.done,
               content_part.done, output_item.done
    call:      output_item.added, function_call_arguments.delta..., function_call_arguments.done,
               output_item.done   (custom tools: custom_tool_call_input.delta / .done, in one piece)
    response.completed   (the whole response with usage; status "incomplete" when cut by length)

Every event has a ``sequence_number`` increasing by one from 0. Tool calls stay open until the end
(some upstreams interleave parallel calls); a reasoning or message item closes when another kind of
item starts. A failure ends the stream with ``response.failed`` and nothing after it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from adaptive_gateway.formats.openai_responses_output import (
    call_item,
    encode_usage,
    envelope,
    finish_status,
    message_item,
    new_id,
    output_text,
    reasoning_item,
)
from adaptive_gateway.formats.openai_responses_tools import tool_names
from adaptive_gateway.types import (
    ChatRequest,
    FinishReason,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

Event = dict[str, Any]
# in-stream failures: HTTP status -> the error code Codex and the SDK look at
FAIL_CODES: dict[int, str] = {429: "rate_limit_exceeded", 413: "context_length_exceeded"}


@dataclass(slots=True)
class _Item:
    """An output item still receiving deltas."""

    index: int
    id: str
    parts: list[str] = field(default_factory=list)
    signature: str | None = None
    call_id: str = ""
    name: str = ""

    @property
    def text(self) -> str:
        return "".join(self.parts)


class StreamEncoder:
    """Feed canonical events to :meth:`encode`; end with :meth:`finish` or :meth:`fail`.

    Each call returns event dicts (``type`` plus the event's fields, ``sequence_number`` set) in order.
    """

    def __init__(self, req: ChatRequest, response_id: str) -> None:
        self._base = envelope(req, response_id, int(time.time()))
        self._names = tool_names(req.raw)
        self._seq = 0
        self._started = False
        self._done = False
        self._output: dict[int, dict[str, Any]] = {}  # finished items by output index
        self._next_index = 0
        self._reasoning: _Item | None = None
        self._message: _Item | None = None
        self._calls: dict[int, _Item] = {}  # open tool calls by the upstream's tool index
        self._had_message = False
        self.finish_reason: FinishReason | None = None
        self.usage: Usage | None = None

    # ---- helpers ---------------------------------------------------------------------------------

    def _ev(self, out: list[Event], kind: str, **fields: Any) -> None:
        out.append({"type": kind, **fields, "sequence_number": self._seq})
        self._seq += 1

    def _response(self, status: str, **fields: Any) -> dict[str, Any]:
        output = [self._output[i] for i in sorted(self._output)]
        return {**self._base, "status": status, "output": output, **fields}

    def _start(self, out: list[Event]) -> None:
        if not self._started:
            self._started = True
            self._ev(out, "response.created", response=self._response("in_progress"))
            self._ev(out, "response.in_progress", response=self._response("in_progress"))

    def _new(self, prefix: str) -> _Item:
        item = _Item(self._next_index, new_id(prefix))
        self._next_index += 1
        return item

    def _added(self, out: list[Event], index: int, item: dict[str, Any]) -> None:
        self._ev(out, "response.output_item.added", output_index=index, item=item)

    def _done_item(self, out: list[Event], index: int, item: dict[str, Any]) -> None:
        self._output[index] = item
        self._ev(out, "response.output_item.done", output_index=index, item=item)

    # ---- reasoning -------------------------------------------------------------------------------

    def _open_reasoning(self, out: list[Event]) -> _Item:
        if self._reasoning is None:
            self._close_message(out)
            item = self._reasoning = self._new("rs_")
            self._added(
                out,
                item.index,
                {
                    "id": item.id,
                    "type": "reasoning",
                    "summary": [],
                    "encrypted_content": None,
                    "status": "in_progress",
                },
            )
            self._ev(
                out,
                "response.reasoning_summary_part.added",
                item_id=item.id,
                output_index=item.index,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
        return self._reasoning

    def _close_reasoning(self, out: list[Event]) -> None:
        item, self._reasoning = self._reasoning, None
        if item is None:
            return
        ref = {"item_id": item.id, "output_index": item.index, "summary_index": 0}
        self._ev(out, "response.reasoning_summary_text.done", **ref, text=item.text)
        self._ev(
            out,
            "response.reasoning_summary_part.done",
            **ref,
            part={"type": "summary_text", "text": item.text},
        )
        final = reasoning_item(item.id, item.text, item.signature)
        final["summary"] = [{"type": "summary_text", "text": item.text}]  # the part announced above
        self._done_item(out, item.index, final)

    def _on_reasoning(self, ev: ReasoningDelta, out: list[Event]) -> None:
        item = self._open_reasoning(out)
        if ev.signature:
            item.signature = ev.signature
        if ev.text:
            item.parts.append(ev.text)
            self._ev(
                out,
                "response.reasoning_summary_text.delta",
                item_id=item.id,
                output_index=item.index,
                summary_index=0,
                delta=ev.text,
            )

    # ---- message ---------------------------------------------------------------------------------

    def _open_message(self, out: list[Event]) -> _Item:
        if self._message is None:
            self._close_reasoning(out)
            item = self._message = self._new("msg_")
            self._had_message = True
            self._added(
                out,
                item.index,
                {
                    "id": item.id,
                    "type": "message",
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                },
            )
            self._ev(
                out,
                "response.content_part.added",
                item_id=item.id,
                output_index=item.index,
                content_index=0,
                part=output_text(""),
            )
        return self._message

    def _close_message(self, out: list[Event]) -> None:
        item, self._message = self._message, None
        if item is None:
            return
        ref = {"item_id": item.id, "output_index": item.index, "content_index": 0}
        text = item.text
        self._ev(out, "response.output_text.done", **ref, text=text, logprobs=[])
        self._ev(out, "response.content_part.done", **ref, part=output_text(text))
        status = "incomplete" if self.finish_reason == "length" else "completed"
        self._done_item(out, item.index, message_item(item.id, text, status))

    def _on_text(self, ev: TextDelta, out: list[Event]) -> None:
        item = self._open_message(out)
        item.parts.append(ev.text)
        self._ev(
            out,
            "response.output_text.delta",
            item_id=item.id,
            output_index=item.index,
            content_index=0,
            delta=ev.text,
            logprobs=[],
        )

    # ---- tool calls ------------------------------------------------------------------------------

    def _on_call_start(self, ev: ToolCallStart, out: list[Event]) -> None:
        self._close_reasoning(out)
        self._close_message(out)
        custom = self._names.client(ev.name).custom
        item = self._new("ctc_" if custom else "fc_")
        item.call_id, item.name = ev.id or new_id("call_"), ev.name
        self._calls[ev.tool_index] = item
        added = call_item(item.id, item.call_id, ev.name, "", self._names, "in_progress")
        self._added(out, item.index, added)

    def _on_call_delta(self, ev: ToolCallDelta, out: list[Event]) -> None:
        item = self._calls.get(ev.tool_index)
        if item is None:  # arguments without a start: the upstream skipped the header chunk
            self._on_call_start(ToolCallStart(ev.tool_index, "", ""), out)
            item = self._calls[ev.tool_index]
        item.parts.append(ev.arguments)
        if not self._names.client(item.name).custom:  # custom input is sent whole, once decoded
            self._ev(
                out,
                "response.function_call_arguments.delta",
                item_id=item.id,
                output_index=item.index,
                delta=ev.arguments,
            )

    def _close_calls(self, out: list[Event]) -> None:
        for item in sorted(self._calls.values(), key=lambda c: c.index):
            final = call_item(item.id, item.call_id, item.name, item.text, self._names)
            ref = {"item_id": item.id, "output_index": item.index}
            if final["type"] == "custom_tool_call":
                self._ev(out, "response.custom_tool_call_input.delta", **ref, delta=final["input"])
                self._ev(out, "response.custom_tool_call_input.done", **ref, input=final["input"])
            else:
                self._ev(out, "response.function_call_arguments.done", **ref, arguments=item.text)
            self._done_item(out, item.index, final)
        self._calls.clear()

    # ---- public ----------------------------------------------------------------------------------

    def encode(self, ev: StreamEvent) -> list[Event]:
        """Events for one canonical stream event (usage and finish reasons are held for the end)."""
        out: list[Event] = []
        if self._done:
            return out
        if isinstance(ev, StreamError):
            return self.fail(ev.message, FAIL_CODES.get(ev.status, "server_error"))
        self._start(out)
        if isinstance(ev, TextDelta):
            if ev.index == 0 and ev.text:
                self._on_text(ev, out)
        elif isinstance(ev, ReasoningDelta):
            if ev.index == 0 and (ev.text or ev.signature):
                self._on_reasoning(ev, out)
        elif isinstance(ev, ToolCallStart):
            if ev.index == 0:
                self._on_call_start(ev, out)
        elif isinstance(ev, ToolCallDelta):
            if ev.index == 0 and ev.arguments:
                self._on_call_delta(ev, out)
        elif isinstance(ev, StreamFinish):
            if ev.index == 0:
                self.finish_reason = ev.reason
        elif isinstance(ev, StreamUsage):
            self.usage = ev.usage
        elif not isinstance(ev, StreamStart):
            raise TypeError(f"unknown stream event {type(ev).__name__}")
        return out

    def finish(self) -> list[Event]:
        """Close every open item and end with ``response.completed``."""
        out: list[Event] = []
        if self._done:
            return out
        self._start(out)
        if not self._had_message and not self._calls:
            self._open_message(out)  # always give the client a message, even an empty one
        self._close_reasoning(out)
        self._close_message(out)
        self._close_calls(out)
        self._done = True
        status, incomplete = finish_status(self.finish_reason)
        response = self._response(
            status,
            incomplete_details=incomplete,
            completed_at=int(time.time()),
            usage=encode_usage(self.usage),
        )
        self._ev(out, "response.completed", response=response)
        return out

    def fail(self, message: str, code: str = "server_error") -> list[Event]:
        """End the stream with ``response.failed`` (nothing is sent after it)."""
        out: list[Event] = []
        if self._done:
            return out
        self._start(out)
        self._done = True
        error = {"code": code, "message": message}
        self._ev(
            out,
            "response.failed",
            response=self._response("failed", error=error, usage=encode_usage(self.usage)),
        )
        return out

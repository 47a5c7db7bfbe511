"""Anthropic Messages streaming events <-> canonical stream events. Pure.

:class:`StreamDecoder` reads an upstream's decoded SSE events; :class:`StreamEncoder` writes the SSE bytes
a Messages client expects, every ``data:`` line preceded by its ``event:`` line, in the API's order::

    message_start, content_block_start, ping, content_block_delta..., content_block_stop,
    (content_block_start ... content_block_stop)..., message_delta, message_stop

Each text, thinking or tool_use run gets its own block index. A tool_use block is opened when the call
starts and every argument piece is sent as ``input_json_delta``, so its input is never empty when
arguments arrived (argument pieces that come before the call's start are held and sent after it).
"""

from __future__ import annotations

from typing import Any

import orjson

from adaptive_gateway.formats.anthropic_catalog import ERROR_TYPES, error_type
from adaptive_gateway.formats.anthropic_response import decode_usage, encode_usage, message_id, stop_reason
from adaptive_gateway.formats.anthropic_response import stop_reason_of as _finish
from adaptive_gateway.types import (
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

# ---- decoding (upstream Anthropic SSE -> canonical) -----------------------------------------------------


class StreamDecoder:
    """Feed ``(event type, decoded data)``; get canonical events. Tool calls are numbered in the order
    their blocks start (``tool_index``), whatever their block index."""

    __slots__ = ("_input", "_tools", "finish")

    def __init__(self) -> None:
        self._tools: dict[int, int] = {}  # block index -> tool_index
        self._input = Usage()
        self.finish: FinishReason | None = None

    def feed(self, data: dict[str, Any]) -> list[StreamEvent]:
        kind = data.get("type")
        index = data.get("index", 0)
        if not isinstance(index, int):
            index = -1
        if kind == "content_block_delta":
            delta = data.get("delta")
            return self._delta(index, delta) if isinstance(delta, dict) else []
        if kind == "content_block_start":
            block = data.get("content_block")
            return self._start(index, block) if isinstance(block, dict) else []
        if kind == "message_start":
            message = data.get("message")
            if not isinstance(message, dict):
                message = {}
            self._input = decode_usage(message.get("usage")) or Usage()
            return [StreamStart(str(message.get("id") or ""), str(message.get("model") or ""))]
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "error":
            err = data.get("error")
            if not isinstance(err, dict):
                return [StreamError(str(err or "upstream stream error"))]
            return [StreamError(str(err.get("message") or err), str(err.get("type") or "upstream_error"))]
        return []  # ping, content_block_stop, message_stop

    def _start(self, index: int, block: dict[str, Any]) -> list[StreamEvent]:
        kind = block.get("type")
        if kind == "tool_use":
            tool_index = self._tools[index] = len(self._tools)
            out: list[StreamEvent] = [
                ToolCallStart(tool_index, str(block.get("id") or ""), str(block.get("name") or ""))
            ]
            if block.get("input"):  # some servers send the whole input up front
                out.append(ToolCallDelta(tool_index, orjson.dumps(block["input"]).decode()))
            return out
        if kind == "text" and block.get("text"):
            return [TextDelta(str(block["text"]))]
        if kind == "thinking" and (block.get("thinking") or block.get("signature")):
            return [ReasoningDelta(str(block.get("thinking") or ""), block.get("signature") or None)]
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[StreamEvent]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(str(delta.get("text") or ""))]
        if kind == "input_json_delta":
            piece = delta.get("partial_json") or ""
            tool_index = self._tools.get(index)
            return [ToolCallDelta(tool_index, piece)] if piece and tool_index is not None else []
        if kind == "thinking_delta":
            return [ReasoningDelta(str(delta.get("thinking") or ""))]
        if kind == "signature_delta":
            return [ReasoningDelta("", str(delta.get("signature") or ""))]
        return []  # citations_delta and future kinds

    def _message_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        delta = data.get("delta")
        reason = delta.get("stop_reason") if isinstance(delta, dict) else None
        if reason:
            self.finish = _finish(reason)
            out.append(StreamFinish(self.finish))
        u = data.get("usage")
        if isinstance(u, dict):
            # message_delta usage is cumulative; input counts may be omitted there (keep message_start's)
            late = decode_usage(u) or Usage()
            usage = Usage(
                input_tokens=late.input_tokens
                if u.get("input_tokens") is not None
                else self._input.input_tokens,
                output_tokens=late.output_tokens,
                cached_input_tokens=(
                    late.cached_input_tokens
                    if u.get("cache_read_input_tokens") is not None
                    else self._input.cached_input_tokens
                ),
                reasoning_tokens=late.reasoning_tokens,
            )
            out.append(StreamUsage(usage))
        return out


# ---- encoding (canonical -> Anthropic SSE bytes for the client) -----------------------------------------


def sse(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


ANTHROPIC_ERROR_TYPES = frozenset(ERROR_TYPES.values())
_PING = sse("ping", {"type": "ping"})
_MESSAGE_STOP = sse("message_stop", {"type": "message_stop"})


class StreamEncoder:
    """Canonical events -> Anthropic SSE bytes. Call :meth:`encode` per event and :meth:`finish` once."""

    __slots__ = (
        "_block",
        "_kind",
        "_next",
        "_pending",
        "_pinged",
        "_started",
        "_tool_blocks",
        "_usage",
        "finish_reason",
        "id",
        "model",
        "tools_seen",
    )

    def __init__(self, id: str, model: str) -> None:
        self.id = message_id(id)
        self.model = model
        self._started = False
        self._pinged = False
        self._block = -1  # index of the open block (-1 = none)
        self._kind = ""  # its kind: text | thinking | tool_use
        self._next = 0  # next block index
        self._tool_blocks: dict[int, int] = {}  # tool_index -> block index
        self._pending: dict[int, list[str]] = {}  # argument pieces that arrived before their call started
        self._usage: Usage | None = None
        self.finish_reason: str | None = None
        self.tools_seen = False

    # -- framing --

    def _message_start(self) -> bytes:
        self._started = True
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self.model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return sse("message_start", {"type": "message_start", "message": message})

    def _close(self) -> bytes:
        if self._block < 0:
            return b""
        index, self._block, self._kind = self._block, -1, ""
        return sse("content_block_stop", {"type": "content_block_stop", "index": index})

    def _open(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self._block, self._kind = self._next, kind
        self._next += 1
        out += sse(
            "content_block_start",
            {"type": "content_block_start", "index": self._block, "content_block": block},
        )
        if not self._pinged:
            self._pinged = True
            out += _PING
        return out

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})

    # -- events --

    def encode(self, ev: StreamEvent) -> bytes:
        out = b"" if self._started else self._message_start()
        if isinstance(ev, TextDelta):
            if not ev.text:
                return out
            if self._kind != "text":
                out += self._open("text", {"type": "text", "text": ""})
            return out + self._delta(self._block, {"type": "text_delta", "text": ev.text})
        if isinstance(ev, ToolCallDelta):
            return out + self._tool_delta(ev.tool_index, ev.arguments)
        if isinstance(ev, ToolCallStart):
            return out + self._tool_start(ev)
        if isinstance(ev, ReasoningDelta):
            return out + self._reasoning(ev)
        if isinstance(ev, StreamFinish):
            self.finish_reason = ev.reason
        elif isinstance(ev, StreamUsage):
            self._usage = ev.usage
        elif isinstance(ev, StreamError):
            out += error_event(
                ev.type if ev.type in ANTHROPIC_ERROR_TYPES else error_type(ev.status), ev.message
            )
        return out

    def _reasoning(self, ev: ReasoningDelta) -> bytes:
        if not ev.text and not ev.signature:
            return b""
        out = b""
        if self._kind != "thinking":
            out = self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        if ev.text:
            out += self._delta(self._block, {"type": "thinking_delta", "thinking": ev.text})
        if ev.signature:
            out += self._delta(self._block, {"type": "signature_delta", "signature": ev.signature})
        return out

    def _tool_start(self, ev: ToolCallStart) -> bytes:
        if ev.tool_index in self._tool_blocks:
            return b""  # a repeated start (some upstreams resend id/name); the block is already open
        self.tools_seen = True
        out = self._open(
            "tool_use",
            {
                "type": "tool_use",
                "id": ev.id or f"toolu_{self.id[4:]}_{ev.tool_index}",
                "name": ev.name,
                "input": {},
            },
        )
        self._tool_blocks[ev.tool_index] = self._block
        for piece in self._pending.pop(ev.tool_index, []):
            out += self._delta(self._block, {"type": "input_json_delta", "partial_json": piece})
        return out

    def _tool_delta(self, tool_index: int, piece: str) -> bytes:
        if not piece:
            return b""
        block = self._tool_blocks.get(tool_index)
        if block is None:
            self._pending.setdefault(tool_index, []).append(piece)
            return b""
        # an upstream interleaving parallel calls: the piece still goes to its own block's index,
        # where both SDKs' accumulators put it
        return self._delta(block, {"type": "input_json_delta", "partial_json": piece})

    def finish(self) -> bytes:
        """Close the open block, then ``message_delta`` (stop reason, usage) and ``message_stop``."""
        out = b"" if self._started else self._message_start()
        for tool_index in sorted(self._pending):  # pieces whose call never announced itself
            out += self._tool_start(ToolCallStart(tool_index, "", ""))
        out += self._close()
        usage = encode_usage(self._usage or Usage())
        delta = {"stop_reason": stop_reason(self.finish_reason, self.tools_seen), "stop_sequence": None}
        out += sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        return out + _MESSAGE_STOP


def error_event(kind: str, message: str) -> bytes:
    return sse("error", {"type": "error", "error": {"type": kind, "message": message}})

"""Client-facing Anthropic Messages (``POST /v1/messages``, ``POST /v1/messages/count_tokens``).

Errors use Anthropic's shape, ``{"type": "error", "error": {"type": ..., "message": ...}}``, with the
error type that matches the HTTP status; in a stream they are an ``event: error``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from adaptive_gateway.errors import GatewayError
from adaptive_gateway.formats import anthropic, anthropic_response
from adaptive_gateway.formats.anthropic_catalog import WIRE, error_type
from adaptive_gateway.formats.anthropic_stream import StreamEncoder, error_event
from adaptive_gateway.types import ChatRequest, ChatResponse, StreamEvent, StreamStart, Usage

# the route passes the client's anthropic-beta header in ``params`` under this name
BETA_PARAM = "anthropic-beta"


def error_body(err: GatewayError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(err.status), "message": err.message}}


class MessagesStreamRenderer:
    __slots__ = ("_enc",)

    def __init__(self, req: ChatRequest, response_id: str) -> None:
        self._enc = StreamEncoder(response_id, req.model)

    def render(self, ev: StreamEvent) -> bytes:
        if isinstance(ev, StreamStart) and ev.id.startswith("msg_"):
            self._enc.id = ev.id
        return self._enc.encode(ev)

    def finish(self) -> bytes:
        return self._enc.finish()

    def error(self, err: GatewayError) -> bytes:
        return error_event(error_type(err.status), err.message)


class MessagesPassthrough:
    """Same-format streams: upstream bytes go out unchanged; usage is read from ``message_start`` and
    ``message_delta`` on the side (only those events are parsed)."""

    __slots__ = ("_buf", "_input", "usage")

    def __init__(self) -> None:
        self._buf = b""
        self._input: Usage | None = None
        self.usage: Usage | None = None

    def _note(self, event: bytes) -> None:
        start = event.find(b"data:")
        if start < 0:
            return
        try:
            data = orjson.loads(event[start + 5 :])
        except orjson.JSONDecodeError:
            return
        if not isinstance(data, dict):
            return
        if data.get("type") == "message_start":
            message = data.get("message")
            self._input = anthropic_response.decode_usage(
                message.get("usage") if isinstance(message, dict) else None
            )
            self.usage = self._input
        elif data.get("type") == "message_delta":
            u = data.get("usage")
            if not isinstance(u, dict):
                return
            late = anthropic_response.decode_usage(u) or Usage()
            base = self._input or Usage()
            self.usage = Usage(
                input_tokens=late.input_tokens if u.get("input_tokens") is not None else base.input_tokens,
                output_tokens=late.output_tokens,
                cached_input_tokens=(
                    late.cached_input_tokens
                    if u.get("cache_read_input_tokens") is not None
                    else base.cached_input_tokens
                ),
                reasoning_tokens=late.reasoning_tokens,
            )

    def feed(self, chunk: bytes) -> bytes:
        data = self._buf + chunk if self._buf else chunk
        if b"\r\n" in data:
            data = data.replace(b"\r\n", b"\n")  # for the scan only; the client gets ``chunk`` as sent
        end = data.rfind(b"\n\n")
        if end < 0:
            self._buf = data
        else:
            self._buf = data[end + 2 :]
            if b"message_" in data:
                for event in data[:end].split(b"\n\n"):
                    if b"event: message_start" in event or b"event: message_delta" in event:
                        self._note(event)
        return chunk

    def finish(self) -> bytes:
        self._buf = b""
        return b""


class AnthropicMessagesWire:
    name: ClassVar[str] = WIRE
    stream_content_type: ClassVar[bytes] = b"text/event-stream"

    def decode(self, body: dict[str, Any], params: dict[str, str]) -> ChatRequest:
        return anthropic.decode_request(body, params.get(BETA_PARAM))

    def render(self, resp: ChatResponse, req: ChatRequest) -> bytes:
        raw = resp.raw
        if (
            resp.raw_bytes is not None
            and req.wire == self.name
            and raw is not None
            and raw.get("type") == "message"
        ):
            return resp.raw_bytes
        return orjson.dumps(anthropic_response.encode_response(resp, req.model))

    def stream_renderer(self, req: ChatRequest, response_id: str) -> MessagesStreamRenderer:
        return MessagesStreamRenderer(req, response_id)

    def passthrough_filter(self, req: ChatRequest) -> MessagesPassthrough:
        return MessagesPassthrough()

    def render_error(self, err: GatewayError) -> bytes:
        return orjson.dumps(error_body(err))


def count_tokens_body(tokens: int) -> bytes:
    return orjson.dumps({"input_tokens": tokens})

"""Client-facing OpenAI Responses API (``POST /v1/responses``): what Codex CLI and
``client.responses.create`` / ``client.responses.stream`` speak.

Requests are translated to whichever upstream serves the model (chat completions, Anthropic, ...);
there is no Responses upstream adapter, so streams are always re-rendered (no byte passthrough).
Errors use OpenAI's error body; a failure after the stream started ends it with ``response.failed``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from adaptive_gateway.errors import GatewayError
from adaptive_gateway.formats import openai_responses
from adaptive_gateway.formats.openai_responses_output import encode_response, new_id
from adaptive_gateway.formats.openai_responses_stream import FAIL_CODES, Event, StreamEncoder
from adaptive_gateway.types import ChatRequest, ChatResponse, StreamEvent
from adaptive_gateway.wire.base import PassthroughFilter


def sse(events: list[Event]) -> bytes:
    """``event: <type>`` + ``data: <json>`` frames, as the OpenAI SDK and Codex parse them."""
    return b"".join([b"event: %s\ndata: %s\n\n" % (ev["type"].encode(), orjson.dumps(ev)) for ev in events])


class ResponsesStreamRenderer:
    __slots__ = ("_enc",)

    def __init__(self, req: ChatRequest, response_id: str) -> None:
        self._enc = StreamEncoder(req, response_id)

    def render(self, ev: StreamEvent) -> bytes:
        return sse(self._enc.encode(ev))

    def finish(self) -> bytes:
        return sse(self._enc.finish())

    def error(self, err: GatewayError) -> bytes:
        code = err.code or FAIL_CODES.get(err.status, "server_error")
        return sse(self._enc.fail(err.message, code))


class OpenAIResponsesWire:
    name: ClassVar[str] = openai_responses.WIRE
    stream_content_type: ClassVar[bytes] = b"text/event-stream"

    def decode(self, body: dict[str, Any], params: dict[str, str]) -> ChatRequest:
        return openai_responses.decode_request(body)

    def render(self, resp: ChatResponse, req: ChatRequest) -> bytes:
        return orjson.dumps(encode_response(resp, req))

    def stream_renderer(self, req: ChatRequest, response_id: str) -> ResponsesStreamRenderer:
        # the server's id is chat-shaped ("chatcmpl-..."); Responses ids start with "resp_"
        return ResponsesStreamRenderer(req, new_id("resp_"))

    def passthrough_filter(self, req: ChatRequest) -> PassthroughFilter | None:
        return None  # no upstream speaks Responses natively here: always re-render

    def render_error(self, err: GatewayError) -> bytes:
        return orjson.dumps(err.body())

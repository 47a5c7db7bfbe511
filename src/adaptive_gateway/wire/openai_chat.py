"""Client-facing OpenAI Chat Completions (``POST /v1/chat/completions``)."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from adaptive_gateway.errors import GatewayError
from adaptive_gateway.formats import openai_chat
from adaptive_gateway.formats.openai_chat import decode_usage
from adaptive_gateway.types import ChatRequest, ChatResponse, StreamError, StreamEvent, StreamStart, Usage

DONE = b"data: [DONE]\n\n"


def sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


class ChatStreamRenderer:
    __slots__ = ("_enc",)

    def __init__(self, req: ChatRequest, response_id: str) -> None:
        self._enc = openai_chat.StreamEncoder(response_id, req.model, req.include_usage)

    def render(self, ev: StreamEvent) -> bytes:
        if isinstance(ev, StreamStart):
            self._enc.id = ev.id or self._enc.id
        if isinstance(ev, StreamError):
            return sse({"error": {"message": ev.message, "type": ev.type, "code": ev.status}})
        return b"".join(sse(c) for c in self._enc.encode(ev))

    def finish(self) -> bytes:
        return b"".join(sse(c) for c in self._enc.finish()) + DONE

    def error(self, err: GatewayError) -> bytes:
        return sse(err.body())


DONE_EVENT = b"data: [DONE]\n\n"


class ChatPassthrough:
    """Forwards upstream SSE bytes unchanged except the usage-only chunk the gateway itself asked for
    (when the client did not set ``stream_options.include_usage``). The ``data: [DONE]`` marker is held
    back and sent by :meth:`finish`, with the end of the response: the SDKs close the connection as soon
    as they read it, and the gateway must not see that as a client that left mid-stream."""

    __slots__ = ("_buf", "_done", "_keep_usage", "usage")

    def __init__(self, keep_usage_chunk: bool) -> None:
        self._keep_usage = keep_usage_chunk
        self._buf = b""
        self._done = b""
        self.usage: Usage | None = None

    def feed(self, chunk: bytes) -> bytes:
        data = self._buf + chunk if self._buf else chunk
        end = data.rfind(b"\n\n")
        if end < 0:
            self._buf = data
            return b""
        data, self._buf = data[: end + 2], data[end + 2 :]
        if data.startswith(DONE_EVENT):  # the marker, as a whole event (nothing follows it)
            self._done, data = self._done + data, b""
        elif (at := data.find(b"\n\n" + DONE_EVENT)) >= 0:
            self._done, data = self._done + data[at + 2 :], data[: at + 2]
        if b'"usage":{' not in data and b'"usage": {' not in data:
            return data  # the common case: whole events and no usage object (``"usage":null`` is skipped)
        out = []
        for event in data.split(b"\n\n"):
            if not event:
                continue
            if (b'"usage":{' in event or b'"usage": {' in event) and event.startswith(b"data: {"):
                try:
                    parsed = orjson.loads(event[6:])
                except orjson.JSONDecodeError:
                    parsed = {}
                usage = decode_usage(parsed.get("usage"))
                if usage is not None:
                    self.usage = usage
                    if not self._keep_usage and not parsed.get("choices"):
                        continue
            out.append(event + b"\n\n")
        return b"".join(out)

    def finish(self) -> bytes:
        rest, self._buf, done, self._done = self._buf, b"", self._done, b""
        return done + rest


class OpenAIChatWire:
    name: ClassVar[str] = "openai_chat"
    stream_content_type: ClassVar[bytes] = b"text/event-stream"

    def decode(self, body: dict[str, Any], params: dict[str, str]) -> ChatRequest:
        return openai_chat.decode_request(body)

    def render(self, resp: ChatResponse, req: ChatRequest) -> bytes:
        if resp.raw_bytes is not None and req.wire == self.name:
            return resp.raw_bytes
        return orjson.dumps(openai_chat.encode_response(resp))

    def stream_renderer(self, req: ChatRequest, response_id: str) -> ChatStreamRenderer:
        return ChatStreamRenderer(req, response_id)

    def passthrough_filter(self, req: ChatRequest) -> ChatPassthrough:
        return ChatPassthrough(req.include_usage)

    def render_error(self, err: GatewayError) -> bytes:
        return orjson.dumps(err.body())

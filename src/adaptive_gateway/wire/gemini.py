"""Client-facing Gemini API: ``POST /v1beta/models/{model}:generateContent`` and
``:streamGenerateContent`` (SSE with ``alt=sse``, what the google-genai SDK uses).

The model and the action come from the URL (``params``); errors use Gemini's shape
``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import orjson

from adaptive_gateway.errors import GatewayError
from adaptive_gateway.formats import gemini, gemini_request
from adaptive_gateway.formats.gemini_stream import StreamEncoder
from adaptive_gateway.types import ChatRequest, ChatResponse, StreamError, StreamEvent, Usage

STREAM_ACTION = "streamGenerateContent"
ACTIONS = frozenset({"generateContent", STREAM_ACTION})
SEP = b"\r\n\r\n"

# HTTP status -> Google's canonical error code, as the real API pairs them
STATUS_NAMES: Mapping[int, str] = MappingProxyType(
    {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        409: "ABORTED",
        413: "INVALID_ARGUMENT",
        422: "INVALID_ARGUMENT",
        429: "RESOURCE_EXHAUSTED",
        499: "CANCELLED",
        500: "INTERNAL",
        501: "NOT_IMPLEMENTED",
        502: "UNAVAILABLE",
        503: "UNAVAILABLE",
        504: "DEADLINE_EXCEEDED",
    }
)


def error_body(status: int, message: str) -> dict[str, Any]:
    name = STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return {"error": {"code": status, "message": message, "status": name}}


def sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + SEP


class GeminiStreamRenderer:
    """SSE framing (``alt=sse``): one ``data: {...}`` event per chunk, a blank CRLF line after each."""

    __slots__ = ("_enc", "_n")

    def __init__(self, req: ChatRequest, response_id: str) -> None:
        self._enc = StreamEncoder(response_id, req.model)
        self._n = 0

    def _frame(self, data: dict[str, Any]) -> bytes:
        return sse(data)

    def render(self, ev: StreamEvent) -> bytes:
        if isinstance(ev, StreamError):
            return self._frame(error_body(ev.status, ev.message))
        return b"".join(self._frame(c) for c in self._enc.encode(ev))

    def finish(self) -> bytes:
        return b"".join(self._frame(c) for c in self._enc.finish())

    def error(self, err: GatewayError) -> bytes:
        return self._frame(error_body(err.status, err.message))


class GeminiArrayRenderer(GeminiStreamRenderer):
    """Without ``alt=sse`` the API streams one JSON array, element by element: ``[{...},`` CRLF ``{...}]``."""

    __slots__ = ()

    def _frame(self, data: dict[str, Any]) -> bytes:
        self._n += 1
        return (b"[" if self._n == 1 else b",\r\n") + orjson.dumps(data)

    def finish(self) -> bytes:
        out = super().finish()
        return out + b"]" if self._n else b"[]"

    def error(self, err: GatewayError) -> bytes:
        return super().error(err) + b"]"


class GeminiPassthrough:
    """Forwards a Gemini upstream's SSE bytes unchanged; the usage is read from the last event that
    carries ``usageMetadata`` (cumulative, so only the last one counts)."""

    __slots__ = ("_tail", "usage")

    def __init__(self) -> None:
        self._tail = b""
        self.usage: Usage | None = None

    def feed(self, chunk: bytes) -> bytes:
        # keep enough of the stream to hold the last whole event; parse it only at the end
        self._tail = (self._tail + chunk)[-65536:]
        return chunk

    def finish(self) -> bytes:
        tail = self._tail.replace(b"\r\n", b"\n")
        for event in reversed(tail.split(b"\n\n")):
            if b"usageMetadata" in event or b"usage_metadata" in event:
                try:
                    data = orjson.loads(event.removeprefix(b"data:").strip())
                except orjson.JSONDecodeError:
                    continue
                self.usage = gemini.decode_usage(gemini.g(data, "usageMetadata"))
                break
        return b""


class GeminiWire:
    name: ClassVar[str] = "gemini"
    stream_content_type: ClassVar[bytes] = b"text/event-stream"

    def decode(self, body: dict[str, Any], params: dict[str, str]) -> ChatRequest:
        """``params``: ``model`` and ``action`` parsed from the URL path."""
        return gemini_request.decode(body, params["model"], params.get("action") == STREAM_ACTION)

    def render(self, resp: ChatResponse, req: ChatRequest) -> bytes:
        if resp.raw_bytes is not None and req.wire == self.name:
            return resp.raw_bytes
        if not resp.model:
            resp.model = req.model
        return orjson.dumps(gemini.encode_response(resp))

    def stream_renderer(self, req: ChatRequest, response_id: str) -> GeminiStreamRenderer:
        return GeminiStreamRenderer(req, response_id)

    def passthrough_filter(self, req: ChatRequest) -> GeminiPassthrough:
        return GeminiPassthrough()

    def render_error(self, err: GatewayError) -> bytes:
        return orjson.dumps(error_body(err.status, err.message))


class GeminiArrayWire(GeminiWire):
    """``:streamGenerateContent`` without ``alt=sse``: the same format streamed as one JSON array. The
    upstream is always asked for SSE, so streams are re-rendered rather than passed through."""

    stream_content_type: ClassVar[bytes] = b"application/json"

    def stream_renderer(self, req: ChatRequest, response_id: str) -> GeminiArrayRenderer:
        return GeminiArrayRenderer(req, response_id)

    def passthrough_filter(self, req: ChatRequest) -> None:  # type: ignore[override]
        return None

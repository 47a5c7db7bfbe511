"""What a client-facing wire format provides to the server. One module per format in ``wire/``."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from adaptive_gateway.errors import GatewayError
from adaptive_gateway.types import ChatRequest, ChatResponse, StreamEvent, Usage


class StreamRenderer(Protocol):
    def render(self, ev: StreamEvent) -> bytes:
        """Bytes for the client (possibly empty) for one canonical event."""
        ...

    def finish(self) -> bytes:
        """Closing bytes once the upstream ended (e.g. ``data: [DONE]``)."""
        ...

    def error(self, err: GatewayError) -> bytes:
        """An in-stream error event, for failures after the first byte was sent."""
        ...


class PassthroughFilter(Protocol):
    """Same-format streams: forward upstream bytes as they are, noting usage on the way."""

    usage: Usage | None

    def feed(self, chunk: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class Wire(Protocol):
    name: ClassVar[str]
    stream_content_type: ClassVar[bytes]

    def decode(self, body: dict[str, Any], params: dict[str, str]) -> ChatRequest: ...

    def render(self, resp: ChatResponse, req: ChatRequest) -> bytes: ...

    def stream_renderer(self, req: ChatRequest, response_id: str) -> StreamRenderer: ...

    def passthrough_filter(self, req: ChatRequest) -> PassthroughFilter | None: ...

    def render_error(self, err: GatewayError) -> bytes: ...

"""The adapter interface. Adapters are pure: they build an upstream request and parse the answer;
``providers/upstream.py`` alone sends bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import orjson

from adaptive_gateway.config import Deployment, Provider
from adaptive_gateway.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    UpstreamError,
)
from adaptive_gateway.types import ChatRequest, ChatResponse, StreamEvent


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    stream: bool = False


class StreamParser(Protocol):
    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """Raw bytes from the upstream (any split) -> the complete events they finish."""
        ...

    def close(self) -> list[StreamEvent]:
        """Events still buffered when the upstream ends the stream."""
        ...


class Adapter(Protocol):
    kind: ClassVar[str]
    # the client wire format this upstream speaks natively: same-format requests pass through
    native_wire: ClassVar[str | None]

    def build(self, req: ChatRequest, dep: Deployment, api_key: str | None) -> UpstreamRequest: ...

    def parse(self, body: bytes, req: ChatRequest) -> ChatResponse: ...

    def stream_parser(self, req: ChatRequest) -> StreamParser: ...

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError: ...


AUTH_HEADERS: dict[str, tuple[str, str]] = {
    "bearer": ("authorization", "Bearer {}"),
    "x-api-key": ("x-api-key", "{}"),
    "x-goog-api-key": ("x-goog-api-key", "{}"),
}


def base_headers(provider: Provider, api_key: str | None) -> dict[str, str]:
    """Content type, the provider's auth header (when it has a key) and configured extra headers."""
    headers = {"content-type": "application/json"}
    key = api_key or provider.api_key
    style = AUTH_HEADERS.get(provider.auth)
    if key and style:
        headers[style[0]] = style[1].format(key)
    headers.update(provider.headers)
    return headers


def error_message(body: bytes) -> str:
    """The human message inside a provider error body, whatever its shape."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:300].decode("utf-8", "replace").strip() or "upstream error"
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("error") or data)[:500]
        if isinstance(err, str):
            return err[:500]
    return str(data)[:300]


_STATUS_ERRORS: dict[int, type[GatewayError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    422: InvalidRequest,
    429: RateLimited,
}


def classify_status(status: int, body: bytes, headers: Mapping[str, str], provider: str) -> GatewayError:
    """Generic upstream error mapping; the status is kept, Retry-After carried along."""
    msg = f"upstream {provider} returned HTTP {status}: {error_message(body)}"
    extra = {}
    for name in ("retry-after", "retry-after-ms"):
        if name in headers:
            extra[name] = headers[name]
    err = UpstreamError(msg, status=status, provider=provider, headers=extra)
    cls = _STATUS_ERRORS.get(status)
    if cls is not None:
        err.type = cls.type
    return err

"""Google Gemini API upstreams: ``models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``.

Pure build / parse / stream parse / classify_error; a client speaking Gemini gets its body forwarded
unchanged (``native_wire``). Gemini cannot fetch arbitrary image URLs, so the pipeline inlines them
first (``inline_images``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import quote

import orjson

from adaptive_gateway.config import Deployment
from adaptive_gateway.errors import GatewayError, UpstreamError
from adaptive_gateway.formats import gemini, gemini_encode
from adaptive_gateway.formats.gemini_stream import StreamDecoder
from adaptive_gateway.providers.base import UpstreamRequest, base_headers, classify_status
from adaptive_gateway.providers.sse import JsonStreamParser
from adaptive_gateway.types import ChatRequest, ChatResponse

# Google's canonical error codes -> HTTP status, for error bodies whose HTTP status says less
GRPC_STATUS: Mapping[str, int] = MappingProxyType(
    {
        "INVALID_ARGUMENT": 400,
        "FAILED_PRECONDITION": 400,
        "OUT_OF_RANGE": 400,
        "UNAUTHENTICATED": 401,
        "PERMISSION_DENIED": 403,
        "NOT_FOUND": 404,
        "ABORTED": 409,
        "ALREADY_EXISTS": 409,
        "RESOURCE_EXHAUSTED": 429,
        "CANCELLED": 499,
        "INTERNAL": 500,
        "UNKNOWN": 500,
        "NOT_IMPLEMENTED": 501,
        "UNAVAILABLE": 503,
        "DEADLINE_EXCEEDED": 504,
    }
)
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _error(body: bytes) -> tuple[str, str, str | None]:
    """(status name, message, retry delay in seconds) from ``{"error": {code, message, status, details}}``."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", "", None
    if isinstance(data, list) and data:  # the JSON-array stream form wraps errors in a list
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return "", "", None
    delay = None
    for detail in err.get("details") or []:
        if isinstance(detail, dict) and isinstance(detail.get("retryDelay"), str):
            m = _DELAY.match(detail["retryDelay"])
            delay = m.group(1) if m else None
    return str(err.get("status") or ""), str(err.get("message") or ""), delay


class GeminiStreamParser(JsonStreamParser):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(StreamDecoder())


class GeminiAdapter:
    kind: ClassVar[str] = "gemini"
    native_wire: ClassVar[str | None] = "gemini"
    # Gemini fetches no arbitrary URLs: http(s) images are inlined by the pipeline before build()
    inline_images: ClassVar[bool] = True
    supports_json_schema: ClassVar[bool] = True  # native structured output (no instructed fallback)
    input_types: ClassVar[frozenset[str]] = frozenset({"text", "image", "audio", "file"})

    @staticmethod
    def url(dep: Deployment, stream: bool) -> str:
        """The generateContent URL for a deployment (``/v1beta`` unless the base URL names a version)."""
        base = dep.provider.base_url
        version = "" if re.search(r"/v1(beta\d*|alpha)?$", base) else "/v1beta"
        model = quote(dep.upstream_model.removeprefix("models/"), safe="-._~")
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{base}{version}/models/{model}:{action}"

    def build(self, req: ChatRequest, dep: Deployment, api_key: str | None) -> UpstreamRequest:
        body = gemini_encode.encode(req) if req.wire != self.native_wire or req.raw is None else req.raw
        headers = base_headers(dep.provider, api_key)
        return UpstreamRequest("POST", self.url(dep, req.stream), headers, orjson.dumps(body), req.stream)

    def parse(self, body: bytes, req: ChatRequest) -> ChatResponse:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"upstream returned invalid JSON: {body[:120]!r}", status=502) from None
        if not isinstance(data, dict):
            raise UpstreamError("upstream returned a non-object JSON body", status=502)
        resp = gemini.decode_response(data)
        if req.wire == self.native_wire:
            resp.raw_bytes = body  # a Gemini client gets the upstream's bytes unchanged
        return resp

    def stream_parser(self, req: ChatRequest) -> GeminiStreamParser:
        return GeminiStreamParser()

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        """Gemini's ``{"error": {"code", "message", "status"}}``: RESOURCE_EXHAUSTED is 429 and
        UNAVAILABLE 503 (both retryable); a ``RetryInfo.retryDelay`` becomes ``retry-after``."""
        name, message, delay = _error(body)
        if status < 400 and name in GRPC_STATUS:
            status = GRPC_STATUS[name]
        err = classify_status(status, body, headers, "gemini")
        if name:
            err.message = f"upstream gemini returned HTTP {status} {name}: {message}"
        if delay is not None and "retry-after" not in err.headers:
            err.headers["retry-after"] = delay
        return err

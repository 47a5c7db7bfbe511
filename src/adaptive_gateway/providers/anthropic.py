"""Anthropic Messages API upstreams (``POST {base}/v1/messages``, ``x-api-key``, ``anthropic-version``).

A client that speaks the Messages format too gets its body forwarded with only the model swapped, and
the upstream's bytes back unchanged (JSON and SSE alike).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from adaptive_gateway.config import Deployment
from adaptive_gateway.errors import GatewayError, UpstreamError
from adaptive_gateway.formats import anthropic_encode, anthropic_response
from adaptive_gateway.formats.anthropic import BETA_HEADER_KEY
from adaptive_gateway.formats.anthropic_catalog import API_VERSION, WIRE, default_max_tokens
from adaptive_gateway.formats.anthropic_stream import StreamDecoder
from adaptive_gateway.providers.base import UpstreamRequest, base_headers, classify_status, error_message
from adaptive_gateway.providers.sse import JsonStreamParser
from adaptive_gateway.types import ChatRequest, ChatResponse

# Anthropic error types -> the canonical (OpenAI-style) type the gateway's error tree uses
_ERROR_TYPES: Mapping[str, str] = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "request_too_large": "invalid_request_error",
    "rate_limit_error": "rate_limit_error",
    "billing_error": "permission_error",
    "api_error": "upstream_error",
    "overloaded_error": "overloaded_error",
    "timeout_error": "timeout_error",
}


class AnthropicStreamParser(JsonStreamParser):
    """Anthropic's decoder handles ``error`` events itself (keeping their type)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(StreamDecoder(), error_of=None)


def messages_url(base_url: str, path: str = "/messages") -> str:
    """``{base}/v1/messages``; a base URL configured with ``/v1`` already is not doubled."""
    base = base_url.rstrip("/")
    return (base if base.endswith("/v1") else base + "/v1") + path


class AnthropicAdapter:
    kind: ClassVar[str] = "anthropic"
    native_wire: ClassVar[str | None] = WIRE
    # output_config.format (json_schema) is native; the structured-output fallback is not needed
    supports_json_schema: ClassVar[bool] = True
    # Anthropic fetches image URLs itself; audio has no place in the Messages API
    inline_images: ClassVar[bool] = False
    input_types: ClassVar[frozenset[str]] = frozenset({"text", "image", "file"})

    def headers(self, req: ChatRequest, dep: Deployment, api_key: str | None) -> dict[str, str]:
        headers = base_headers(dep.provider, api_key)
        headers.setdefault("anthropic-version", API_VERSION)
        beta = req.extra.get(BETA_HEADER_KEY) if req.wire == WIRE else None
        if isinstance(beta, str) and "anthropic-beta" not in headers:
            headers["anthropic-beta"] = beta
        return headers

    def build(self, req: ChatRequest, dep: Deployment, api_key: str | None) -> UpstreamRequest:
        default = dep.max_output_tokens or default_max_tokens(dep.upstream_model)
        body = anthropic_encode.encode_request(req, dep.upstream_model, default)
        return UpstreamRequest(
            "POST",
            messages_url(dep.provider.base_url),
            self.headers(req, dep, api_key),
            orjson.dumps(body),
            req.stream,
        )

    def build_count_tokens(
        self, req: ChatRequest, body: dict[str, Any], dep: Deployment, api_key: str | None
    ) -> UpstreamRequest:
        """``/v1/messages/count_tokens`` with the client's body (model swapped)."""
        payload = {k: v for k, v in body.items() if k not in ("max_tokens", "stream")}
        payload["model"] = dep.upstream_model
        return UpstreamRequest(
            "POST",
            messages_url(dep.provider.base_url, "/messages/count_tokens"),
            self.headers(req, dep, api_key),
            orjson.dumps(payload),
        )

    def parse(self, body: bytes, req: ChatRequest) -> ChatResponse:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"upstream returned invalid JSON: {body[:120]!r}", status=502) from None
        if not isinstance(data, dict):
            raise UpstreamError("upstream returned a non-object JSON body", status=502)
        if req.wire == WIRE and req.raw is not None:
            # same format: the client gets the upstream's bytes unchanged, so only id, model and usage
            # are read; stages that need the message call ``anthropic_response.materialize(resp)``
            return anthropic_response.passthrough_response(data, body)
        return anthropic_response.decode_response(data)

    def stream_parser(self, req: ChatRequest) -> AnthropicStreamParser:
        return AnthropicStreamParser()

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        err = classify_status(status, body, headers, "anthropic")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return err
        inner = data.get("error") if isinstance(data, dict) else None
        kind = inner.get("type") if isinstance(inner, dict) else None
        if isinstance(kind, str) and kind in _ERROR_TYPES:
            err.type = _ERROR_TYPES[kind]
            err.message = f"upstream anthropic returned HTTP {status} ({kind}): {error_message(body)}"
            err.args = (err.message,)
        return err

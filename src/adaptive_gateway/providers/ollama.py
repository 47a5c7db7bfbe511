"""Ollama's native API (``POST /api/chat``, NDJSON streaming). Use the ``ollama-openai`` preset for its
OpenAI-compatible ``/v1`` instead; the native API adds ``think``, ``format`` schemas and exact counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import orjson

from adaptive_gateway.config import Deployment
from adaptive_gateway.errors import GatewayError, UpstreamError
from adaptive_gateway.formats import ollama
from adaptive_gateway.providers.base import UpstreamRequest, base_headers, classify_status
from adaptive_gateway.providers.sse import JsonStreamParser
from adaptive_gateway.types import ChatRequest, ChatResponse


class OllamaStreamParser(JsonStreamParser):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(ollama.StreamDecoder(), ndjson=True)


class OllamaAdapter:
    kind: ClassVar[str] = "ollama"
    native_wire: ClassVar[str | None] = None
    # Ollama takes images only as base64: http(s) image URLs are inlined by the pipeline before build()
    inline_images: ClassVar[bool] = True
    supports_json_schema: ClassVar[bool] = True  # native structured output (no instructed fallback)
    input_types: ClassVar[frozenset[str]] = frozenset({"text", "image"})
    path: ClassVar[str] = "/api/chat"

    def build(self, req: ChatRequest, dep: Deployment, api_key: str | None) -> UpstreamRequest:
        body = ollama.encode_request(req, dep.upstream_model)
        base = dep.provider.base_url.removesuffix("/api")
        headers = base_headers(dep.provider, api_key)
        return UpstreamRequest("POST", base + self.path, headers, orjson.dumps(body), req.stream)

    def parse(self, body: bytes, req: ChatRequest) -> ChatResponse:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"upstream returned invalid JSON: {body[:120]!r}", status=502) from None
        if not isinstance(data, dict):
            raise UpstreamError("upstream returned a non-object JSON body", status=502)
        if "error" in data:
            raise UpstreamError(f"upstream ollama error: {data['error']}", status=502, provider="ollama")
        return ollama.decode_response(data)

    def stream_parser(self, req: ChatRequest) -> OllamaStreamParser:
        return OllamaStreamParser()

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        """Ollama's ``{"error": "..."}``; a missing model is its 404 (``model "x" not found``)."""
        return classify_status(status, body, headers, "ollama")

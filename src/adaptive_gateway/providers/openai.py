"""OpenAI-compatible upstreams: OpenAI, OpenRouter, Groq, Mistral, vLLM, LM Studio, llama.cpp server,
LocalAI, Ollama's /v1, and the embedded runtime."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from adaptive_gateway.config import Deployment
from adaptive_gateway.errors import GatewayError, UpstreamError
from adaptive_gateway.formats import openai_chat
from adaptive_gateway.providers.base import UpstreamRequest, base_headers, classify_status
from adaptive_gateway.providers.sse import JsonStreamParser
from adaptive_gateway.types import ChatRequest, ChatResponse


class OpenAIStreamParser(JsonStreamParser):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(openai_chat.StreamDecoder())


class OpenAIAdapter:
    kind: ClassVar[str] = "openai"
    native_wire: ClassVar[str | None] = "openai_chat"
    path: ClassVar[str] = "/chat/completions"
    # OpenAI-compatible upstreams take image URLs themselves (pipeline/media.py inlines for the others)
    inline_images: ClassVar[bool] = False

    def build(self, req: ChatRequest, dep: Deployment, api_key: str | None) -> UpstreamRequest:
        body = openai_chat.encode_request(req, dep.upstream_model)
        if req.stream and req.wire == "openai_chat" and not req.include_usage:
            # ask for usage so spend is exact; the usage-only chunk is dropped before the client sees it
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return self.build_raw(self.path, body, dep, api_key, req.stream)

    def build_raw(
        self, path: str, body: dict[str, Any], dep: Deployment, api_key: str | None, stream: bool = False
    ) -> UpstreamRequest:
        """Any OpenAI endpoint (completions, embeddings) with the body forwarded as given."""
        headers = base_headers(dep.provider, api_key)
        return UpstreamRequest("POST", dep.provider.base_url + path, headers, orjson.dumps(body), stream)

    def parse(self, body: bytes, req: ChatRequest) -> ChatResponse:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"upstream returned invalid JSON: {body[:120]!r}", status=502) from None
        if req.wire == self.native_wire:
            # same format both sides: the upstream's bytes go back unchanged (only a client of the same
            # format may get them), so only id, model and usage are read here; stages that need the
            # message call ``openai_chat.materialize(resp)``
            return openai_chat.passthrough_response(data, body)
        return openai_chat.decode_response(data)

    def stream_parser(self, req: ChatRequest) -> OpenAIStreamParser:
        return OpenAIStreamParser()

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return classify_status(status, body, headers, "openai")

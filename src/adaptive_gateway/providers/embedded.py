"""The embedded llama.cpp runtime: the OpenAI API on a port the runtime manager picks. Its embeddings
model (``local/minilm-l6``) is computed in the gateway by ``POST /v1/embeddings`` and cannot answer a
chat request: the llama.cpp child would answer it with its own chat model under the wrong name."""

from __future__ import annotations

from adaptive_gateway.config import Deployment
from adaptive_gateway.embedded.models import BUNDLED_NAME, EMBEDDING_NAME
from adaptive_gateway.errors import UnsupportedContent
from adaptive_gateway.providers.base import UpstreamRequest
from adaptive_gateway.providers.openai import OpenAIAdapter
from adaptive_gateway.types import ChatRequest


class EmbeddedAdapter(OpenAIAdapter):
    def build(self, req: ChatRequest, dep: Deployment, api_key: str | None) -> UpstreamRequest:
        if dep.upstream_model == EMBEDDING_NAME:
            raise UnsupportedContent(
                f"model '{dep.model_name}' is an embeddings model ({EMBEDDING_NAME}): send it to "
                f"POST /v1/embeddings; for chat use a chat model such as {BUNDLED_NAME}",
                param="model",
            )
        return super().build(req, dep, api_key)

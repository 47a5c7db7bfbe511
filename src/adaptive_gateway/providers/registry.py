"""The closed registry of provider adapters: one line per adapter kind."""

from __future__ import annotations

from adaptive_gateway.providers.anthropic import AnthropicAdapter
from adaptive_gateway.providers.base import Adapter
from adaptive_gateway.providers.embedded import EmbeddedAdapter
from adaptive_gateway.providers.gemini import GeminiAdapter
from adaptive_gateway.providers.ollama import OllamaAdapter
from adaptive_gateway.providers.openai import OpenAIAdapter


def build_registry() -> dict[str, Adapter]:
    """Adapter kind -> adapter instance (adapters are stateless; one instance serves every request)."""
    return {
        "openai": OpenAIAdapter(),
        "anthropic": AnthropicAdapter(),
        # the embedded llama.cpp runtime speaks the OpenAI API on a port the runtime manager picks
        "embedded": EmbeddedAdapter(),
        "gemini": GeminiAdapter(),
        "ollama": OllamaAdapter(),
    }

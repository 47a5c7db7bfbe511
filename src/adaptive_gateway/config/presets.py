"""Provider presets: ``kind: groq`` plus a key is enough. Pure data.

``adapter`` names the wire protocol module in ``providers/`` that talks to it; ``auth`` says how the key
is sent (``bearer``, ``x-api-key``, ``x-goog-api-key`` or ``none``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Locality = Literal["local", "hosted"]


@dataclass(frozen=True, slots=True)
class Preset:
    adapter: str
    base_url: str | None
    locality: Locality
    auth: str = "bearer"
    key_env: str | None = None
    # reuse connections; llama.cpp's server closes the connection after every stream despite sending
    # "Keep-Alive", so pooled reuse would race with that close
    keepalive: bool = True


PRESETS: dict[str, Preset] = {
    # adapter kinds themselves (base_url must then be given)
    "openai-compatible": Preset("openai", None, "hosted"),
    "embedded": Preset(
        "embedded", None, "local", keepalive=False
    ),  # bearer: the child requires a per-gateway key
    # hosted providers
    "openai": Preset("openai", "https://api.openai.com/v1", "hosted", key_env="OPENAI_API_KEY"),
    "anthropic": Preset(
        "anthropic", "https://api.anthropic.com", "hosted", auth="x-api-key", key_env="ANTHROPIC_API_KEY"
    ),
    "gemini": Preset(
        "gemini",
        "https://generativelanguage.googleapis.com",
        "hosted",
        auth="x-goog-api-key",
        key_env="GEMINI_API_KEY",
    ),
    "openrouter": Preset("openai", "https://openrouter.ai/api/v1", "hosted", key_env="OPENROUTER_API_KEY"),
    "groq": Preset("openai", "https://api.groq.com/openai/v1", "hosted", key_env="GROQ_API_KEY"),
    "mistral": Preset("openai", "https://api.mistral.ai/v1", "hosted", key_env="MISTRAL_API_KEY"),
    # local runtimes
    "ollama": Preset("ollama", "http://127.0.0.1:11434", "local", auth="none"),
    "ollama-openai": Preset("openai", "http://127.0.0.1:11434/v1", "local", auth="none"),
    "lmstudio": Preset("openai", "http://127.0.0.1:1234/v1", "local", auth="none"),
    "llamacpp": Preset("openai", "http://127.0.0.1:8080/v1", "local", auth="none"),
    "vllm": Preset("openai", "http://127.0.0.1:8000/v1", "local", auth="none"),
    "localai": Preset("openai", "http://127.0.0.1:8080/v1", "local", auth="none"),
}

# adapter kinds usable directly as `kind:` (the preset of the same name, or a bare adapter)
ADAPTER_KINDS: frozenset[str] = frozenset(p.adapter for p in PRESETS.values())


def preset_for(kind: str) -> Preset | None:
    """The preset for a ``kind`` value; bare adapter names map to a preset with no base URL."""
    preset = PRESETS.get(kind)
    if preset is not None:
        return preset
    if kind in ADAPTER_KINDS:
        return Preset(kind, None, "hosted")
    return None

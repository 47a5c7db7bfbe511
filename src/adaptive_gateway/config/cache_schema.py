"""The ``cache:`` section of the config: exact and semantic response caching (docs/cache.md).

Every field has a default: a config without the section gets the exact in-process cache (20,000
entries, 60 minutes), shared through Redis when ``state.redis_url`` is set, and no semantic cache.
Cross-references (model names) are checked by :func:`cache_errors`, with the path in the message.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Level = Literal["public", "internal", "confidential", "secret"]
LEVEL_ORDER: tuple[Level, ...] = ("public", "internal", "confidential", "secret")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SemanticCacheConfig(_Strict):
    """Answers for paraphrases: the last user message is embedded with the built-in MiniLM model and
    compared with earlier ones of the same model, tenant and conversation context. The vectors are
    kept on disk under the gateway home and, with the Redis tier on, shared by every replica."""

    enabled: bool = Field(False, description="for every model; else only the models / keys / tenants listed")
    threshold: float = Field(0.95, gt=0, le=1, description="cosine similarity for a hit")
    max_entries: int = Field(20_000, ge=1, description="vectors kept in memory across all models")
    persist: bool = Field(
        True, description="keep vectors and their answers in <home>/cache/semantic.db across restarts"
    )
    sync_seconds: float = Field(
        0.5, gt=0, le=60, description="how often a replica pulls the others' vectors from Redis"
    )
    models: list[str] = []
    keys: list[str] = Field([], description="virtual key ids")
    tenants: list[str] = Field([], description="tenant ids")


class CacheModelConfig(_Strict):
    """Per-model overrides (by public model name); unset fields follow the section's defaults."""

    enabled: bool | None = None
    semantic: bool | None = None
    ttl_seconds: float | None = Field(None, gt=0)


class CacheConfig(_Strict):
    enabled: bool = Field(True, description="the exact cache (hash of the canonical request)")
    ttl_seconds: float = Field(3600.0, gt=0)
    max_ttl_seconds: float = Field(86_400.0, gt=0, description="the largest x-cache-ttl accepted")
    max_entries: int = Field(20_000, ge=1, description="in-process entries (least recently used go first)")
    max_entry_bytes: int = Field(1_048_576, ge=1024, description="larger answers are not cached")
    # an explicit temperature above this is a request for variety: never cached
    max_temperature: float = Field(0.7, ge=0, le=2)
    # no temperature means the provider's default (1.0 for OpenAI, Anthropic and Gemini): sampled
    # answers, so not cached unless this is true
    cache_unset_temperature: bool = False
    # requests that offer tools may trigger side effects on the client: cached only when allowed
    allow_tools: bool = False
    max_trust: Level = Field("internal", description="highest trust level cached in every tier")
    local_max_trust: Level | None = Field(
        None, description="highest level cached in this process only, never Redis (default: max_trust)"
    )
    redis: bool = Field(True, description="share entries through state.redis_url when it is set")
    purge_poll_seconds: float = Field(1.0, gt=0, description="how often replicas apply shared purges")
    semantic: SemanticCacheConfig = SemanticCacheConfig()
    models: dict[str, CacheModelConfig] = {}

    @model_validator(mode="after")
    def _levels(self) -> CacheConfig:
        local = self.local_max_trust
        if local is not None and LEVEL_ORDER.index(local) < LEVEL_ORDER.index(self.max_trust):
            raise ValueError(
                f"local_max_trust '{local}' is below max_trust '{self.max_trust}'; "
                "it must be the same level or higher"
            )
        if self.max_ttl_seconds < self.ttl_seconds:
            raise ValueError("max_ttl_seconds must be at least ttl_seconds")
        return self


def cache_errors(data: dict[str, Any]) -> list[str]:
    """Model names in ``cache.models`` and ``cache.semantic.models`` that name no model or alias."""
    section = data.get("cache")
    if not isinstance(section, dict):
        return []
    models = data.get("models") if isinstance(data.get("models"), dict) else {}
    aliases = data.get("aliases") if isinstance(data.get("aliases"), dict) else {}
    known = set(models or {}) | set(aliases or {})
    errors: list[str] = []
    per_model = section.get("models")
    for name in per_model if isinstance(per_model, dict) else {}:
        if name not in known:
            errors.append(f"cache.models.{name}: unknown model '{name}'")
    semantic = section.get("semantic")
    listed = semantic.get("models") if isinstance(semantic, dict) else None
    for i, name in enumerate(listed if isinstance(listed, list) else []):
        if isinstance(name, str) and name not in known:
            errors.append(f"cache.semantic.models[{i}]: unknown model '{name}'")
    return errors

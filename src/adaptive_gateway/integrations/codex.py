"""Codex CLI: ``~/.codex/config.toml`` gets a ``model_providers.adaptive`` entry (Responses API, key read
from ``$ADAPTIVE_GATEWAY_KEY`` via ``env_key``) and selects it; ``--mcp`` adds ``mcp_servers.adaptive``."""

from __future__ import annotations

from .base import (
    KEY_ENV,
    MCP_SERVER_NAME,
    PROVIDER_NAME,
    IntegrationContext,
    IntegrationPlan,
    Target,
    export_hint,
)
from .edits import Edit, SetValue
from .writer import FileChange

PROVIDER_ID = "adaptive"


def plan(ctx: IntegrationContext) -> IntegrationPlan:
    provider = {"name": PROVIDER_NAME, "base_url": ctx.api_base, "env_key": KEY_ENV, "wire_api": "responses"}
    edits: list[Edit] = [
        SetValue(("model_provider",), PROVIDER_ID),
        SetValue(("model_providers", PROVIDER_ID), provider),
    ]
    if ctx.mcp:
        server = {"url": ctx.mcp_url, "bearer_token_env_var": KEY_ENV}
        edits.append(SetValue(("mcp_servers", MCP_SERVER_NAME), server))
    change = FileChange(ctx.home / ".codex" / "config.toml", "toml", tuple(edits))
    return IntegrationPlan((change,), export_hint() + "\nCodex never stores the key: it reads it at start.")


TARGET = Target("codex", "Codex CLI (config.toml model provider, optional MCP server)", plan)

"""Continue: a models entry (provider openai, apiBase = the gateway) in ``~/.continue/config.yaml`` (or the
legacy ``config.json`` when that is the only one); ``--mcp`` adds the gateway to ``mcpServers`` (YAML)."""

from __future__ import annotations

from typing import Any

from .base import KEY_ENV, MCP_SERVER_NAME, IntegrationContext, IntegrationPlan, Target
from .edits import Edit, SetValue, UpsertItem
from .writer import FileChange

MODEL_NAME = "Adaptive Gateway"
_SECRET_REF = "${{ secrets." + KEY_ENV + " }}"  # Continue reads it from ~/.continue/.env
_NEW_FILE_HEADER = {"name": "Local Assistant", "version": "1.0.0", "schema": "v1"}


def _yaml(ctx: IntegrationContext) -> FileChange:
    key = ctx.inline_key if ctx.inline_key is not None else _SECRET_REF
    model = {
        "name": MODEL_NAME,
        "provider": "openai",
        "model": ctx.model,
        "apiBase": ctx.api_base,
        "apiKey": key,
    }
    edits: list[Edit] = [SetValue((k,), v, only_if_missing=True) for k, v in _NEW_FILE_HEADER.items()]
    edits.append(UpsertItem(("models",), "name", model))
    if ctx.mcp:
        server: dict[str, Any] = {
            "name": MCP_SERVER_NAME,
            "type": "streamable-http",
            "url": ctx.mcp_url,
            "requestOptions": {"headers": {"Authorization": f"Bearer {key}"}},
        }
        edits.append(UpsertItem(("mcpServers",), "name", server))
    path = ctx.home / ".continue" / "config.yaml"
    return FileChange(path, "yaml", tuple(edits), secret=ctx.inline_key is not None)


def _json(ctx: IntegrationContext) -> FileChange:
    model = {"title": MODEL_NAME, "provider": "openai", "model": ctx.model, "apiBase": ctx.api_base}
    if ctx.inline_key is not None:
        model["apiKey"] = ctx.inline_key
    path = ctx.home / ".continue" / "config.json"
    return FileChange(
        path, "json", (UpsertItem(("models",), "title", model),), secret=ctx.inline_key is not None
    )


def plan(ctx: IntegrationContext) -> IntegrationPlan:
    folder = ctx.home / ".continue"
    legacy = (folder / "config.json").exists() and not (folder / "config.yaml").exists()
    change = _json(ctx) if legacy else _yaml(ctx)
    if legacy:
        note = "config.json cannot reference secrets: enter the gateway key in Continue's model settings."
        note += (
            "\nMCP servers need config.yaml (Continue converts config.json on request)." if ctx.mcp else ""
        )
    else:
        note = f"Put {KEY_ENV}=<your gateway key> in ~/.continue/.env (Continue reads secrets from there)."
    return IntegrationPlan((change,), note)


TARGET = Target("continue", "Continue (models entry in ~/.continue/config.yaml, optional MCP)", plan)

"""Claude Code: ``~/.claude/settings.json`` ``env`` points it at the gateway; the key comes from
``$ADAPTIVE_GATEWAY_KEY`` through ``apiKeyHelper`` (the plain key only with explicit consent). With
``--mcp``, the gateway's MCP server is added to ``~/.claude.json`` ``mcpServers``."""

from __future__ import annotations

from .base import KEY_ENV, MCP_SERVER_NAME, IntegrationContext, IntegrationPlan, Target, export_hint
from .edits import Edit, SetValue
from .writer import FileChange


def _settings(ctx: IntegrationContext) -> FileChange:
    env = {"ANTHROPIC_BASE_URL": ctx.root}
    edits: list[Edit] = []
    if ctx.inline_key is not None:
        env["ANTHROPIC_AUTH_TOKEN"] = ctx.inline_key
    else:
        edits.append(SetValue(("apiKeyHelper",), f"printenv {KEY_ENV}"))
    edits.insert(0, SetValue(("env",), env))
    path = ctx.home / ".claude" / "settings.json"
    return FileChange(path, "json", tuple(edits), secret=ctx.inline_key is not None)


def _mcp(ctx: IntegrationContext) -> FileChange:
    server = {"type": "http", "url": ctx.mcp_url, "headers": {"Authorization": f"Bearer {ctx.key_reference}"}}
    return FileChange(ctx.home / ".claude.json", "json", (SetValue(("mcpServers", MCP_SERVER_NAME), server),))


def plan(ctx: IntegrationContext) -> IntegrationPlan:
    changes = (_settings(ctx), *((_mcp(ctx),) if ctx.mcp else ()))
    notes = [] if ctx.inline_key is not None else [export_hint()]
    notes.append("Restart Claude Code; `claude /status` shows the gateway as its base URL.")
    return IntegrationPlan(changes, "\n".join(notes))


TARGET = Target("claude-code", "Claude Code (settings.json env, optional MCP in ~/.claude.json)", plan)

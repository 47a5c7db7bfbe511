"""Open WebUI keeps its connections in its own database: print the settings to enter."""

from __future__ import annotations

from .base import IntegrationContext, IntegrationPlan, Target


def plan(ctx: IntegrationContext) -> IntegrationPlan:
    lines = [
        "In Open WebUI: Admin Panel > Settings > Connections > OpenAI API > add a connection:",
        f"  URL: {ctx.api_base}",
        "  Key: your gateway key",
    ]
    if ctx.mcp:
        lines += [
            "Admin Panel > Settings > External Tools > add an MCP (Streamable HTTP) server:",
            f"  URL: {ctx.mcp_url}",
            "  Auth: Bearer, your gateway key",
        ]
    return IntegrationPlan((), "\n".join(lines))


TARGET = Target("open-webui", "Open WebUI (settings to enter; no file is edited)", plan)

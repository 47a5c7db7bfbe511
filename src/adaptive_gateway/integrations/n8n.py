"""n8n keeps credentials encrypted in its database: print the credential and node settings to enter."""

from __future__ import annotations

from .base import IntegrationContext, IntegrationPlan, Target


def plan(ctx: IntegrationContext) -> IntegrationPlan:
    lines = [
        "In n8n: Credentials > New > OpenAI API:",
        "  API Key: your gateway key",
        f"  Base URL: {ctx.api_base}",
        "Use it in the OpenAI Chat Model node; pick a model the gateway serves.",
    ]
    if ctx.mcp:
        lines += [
            "MCP Client Tool node:",
            f"  Endpoint: {ctx.mcp_url} (HTTP Streamable)",
            "  Authentication: Bearer, your gateway key",
        ]
    return IntegrationPlan((), "\n".join(lines))


TARGET = Target("n8n", "n8n (credential settings to enter; no file is edited)", plan)

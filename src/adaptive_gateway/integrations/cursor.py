"""Cursor keeps its model settings in its own database, so the base URL is an instruction; with ``--mcp``
the gateway's MCP server goes into ``~/.cursor/mcp.json`` (key by ``${env:...}`` reference)."""

from __future__ import annotations

from .base import KEY_ENV, MCP_SERVER_NAME, IntegrationContext, IntegrationPlan, Target, export_hint
from .edits import SetValue
from .writer import FileChange


def plan(ctx: IntegrationContext) -> IntegrationPlan:
    steps = (
        f"In Cursor: Settings > Models > OpenAI API Key: enter your gateway key, enable "
        f"'Override OpenAI Base URL' and set it to {ctx.api_base}."
    )
    if not ctx.mcp:
        return IntegrationPlan(
            (), steps + "\nAdd --mcp to register the gateway's MCP server in ~/.cursor/mcp.json."
        )
    server = {"url": ctx.mcp_url, "headers": {"Authorization": f"Bearer ${{env:{KEY_ENV}}}"}}
    change = FileChange(
        ctx.home / ".cursor" / "mcp.json", "json", (SetValue(("mcpServers", MCP_SERVER_NAME), server),)
    )
    return IntegrationPlan((change,), f"{steps}\n{export_hint()}")


TARGET = Target("cursor", "Cursor (instructions for the base URL, MCP in ~/.cursor/mcp.json)", plan)

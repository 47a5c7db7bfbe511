"""VS Code: with ``--mcp``, the gateway's MCP server in the user ``mcp.json`` (``servers``), its key asked
for once by VS Code and kept in its secret storage. Chat models are configured in the UI (instructions)."""

from __future__ import annotations

import sys
from pathlib import Path

from .base import MCP_SERVER_NAME, IntegrationContext, IntegrationPlan, Target
from .edits import SetValue, UpsertItem
from .writer import FileChange

INPUT_ID = "adaptive-gateway-key"
# platform prefix -> user settings folder under home
USER_DIRS = {
    "darwin": "Library/Application Support/Code/User",
    "win32": "AppData/Roaming/Code/User",
    "linux": ".config/Code/User",
}


def user_dir(home: Path, platform: str = sys.platform) -> Path:
    """The folder that exists, else the one for ``platform``."""
    existing = [home / d for d in USER_DIRS.values() if (home / d).is_dir()]
    return existing[0] if existing else home / USER_DIRS.get(platform, USER_DIRS["linux"])


def plan(ctx: IntegrationContext) -> IntegrationPlan:
    steps = f"VS Code chat: in the model picker, add an OpenAI-compatible model with base URL {ctx.api_base}."
    if not ctx.mcp:
        return IntegrationPlan((), steps + "\nAdd --mcp to register the gateway's MCP server in mcp.json.")
    server = {
        "type": "http",
        "url": ctx.mcp_url,
        "headers": {"Authorization": f"Bearer ${{input:{INPUT_ID}}}"},
    }
    prompt = {
        "type": "promptString",
        "id": INPUT_ID,
        "description": "Adaptive LLM Gateway key",
        "password": True,
    }
    edits = (SetValue(("servers", MCP_SERVER_NAME), server), UpsertItem(("inputs",), "id", prompt))
    change = FileChange(user_dir(ctx.home) / "mcp.json", "json", edits)
    return IntegrationPlan(
        (change,), steps + "\nVS Code asks for the gateway key when it first starts the server."
    )


TARGET = Target("vscode", "VS Code (MCP server in the user mcp.json)", plan)

"""Checks for ``doctor``: the state of configured MCP servers, from a running gateway or offline.

A running gateway reports every server under the ``mcp_servers`` check of ``GET /health/ready`` (state,
restarts, last error) and in the ``gateway_health`` tool. Without one, :func:`probe_servers` starts each
configured server once, exactly as the gateway would, and reports what happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adaptive_gateway.config.schema import McpServerConfig
from adaptive_gateway.mcp.guard import ContentGuard
from adaptive_gateway.mcp.hub import McpHub
from adaptive_gateway.mcp.receipts import ReceiptLog
from adaptive_gateway.mcp.upstream import Supervision


async def probe_servers(
    configs: Mapping[str, McpServerConfig], timeout: float = 20.0
) -> dict[str, dict[str, Any]]:
    """Connect every enabled server (waiting at most ``timeout`` seconds in all) and return, per server,
    its snapshot (``state``, ``restarts``, ``last_error``, ...) and ``tool_names``; then stop them."""
    hub = McpHub(ContentGuard(), ReceiptLog(), Supervision(connect_timeout=timeout))
    await hub.reconcile(configs)
    try:
        await hub.wait_ready(timeout)
        return {
            name: {**server.snapshot(), "tool_names": [tool.name for tool in server.tools]}
            for name, server in sorted(hub.servers.items())
        }
    finally:
        await hub.stop()

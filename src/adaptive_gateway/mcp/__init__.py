"""The MCP server (stdio and streamable HTTP at ``/mcp``), its tools over the gateway and the shared
memory, the MCP gateway to upstream MCP servers, and the route reflector. See docs/mcp.md.

The server extension (``adaptive_gateway.server.mcp_ext``) builds one :class:`McpServices` per app
and mounts :class:`McpHttpEndpoint`; ``adaptive-llm-gateway mcp`` serves the same tools on stdio.

The names below load on first use (PEP 562): importing one light module of this package (the route
reflector, the tool context) must not import the MCP SDK, which costs a serving worker ~30 MB.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adaptive_gateway.mcp.context import Caller, ToolError, ToolOutput, ToolSpec
    from adaptive_gateway.mcp.http import McpHttpEndpoint
    from adaptive_gateway.mcp.hub import McpHub
    from adaptive_gateway.mcp.protocol import build_server
    from adaptive_gateway.mcp.receipts import ReceiptLog, ToolReceipt
    from adaptive_gateway.mcp.reflector import RouteReflector
    from adaptive_gateway.mcp.services import McpServices
    from adaptive_gateway.mcp.upstream import Supervision, UpstreamServer

_HOME = {
    "Caller": "context",
    "ToolError": "context",
    "ToolOutput": "context",
    "ToolSpec": "context",
    "McpHttpEndpoint": "http",
    "McpHub": "hub",
    "build_server": "protocol",
    "ReceiptLog": "receipts",
    "ToolReceipt": "receipts",
    "RouteReflector": "reflector",
    "McpServices": "services",
    "Supervision": "upstream",
    "UpstreamServer": "upstream",
}

__all__ = [
    "Caller",
    "McpHttpEndpoint",
    "McpHub",
    "McpServices",
    "ReceiptLog",
    "RouteReflector",
    "Supervision",
    "ToolError",
    "ToolOutput",
    "ToolReceipt",
    "ToolSpec",
    "UpstreamServer",
    "build_server",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

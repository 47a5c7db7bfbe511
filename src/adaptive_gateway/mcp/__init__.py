"""The MCP server (stdio and streamable HTTP at ``/mcp``), its tools over the gateway and the shared
memory, the MCP gateway to upstream MCP servers, and the route reflector. See docs/mcp.md.

The server extension (``adaptive_gateway.server.mcp_ext``) builds one :class:`McpServices` per app
and mounts :class:`McpHttpEndpoint`; ``adaptive-llm-gateway mcp`` serves the same tools on stdio.
"""

from adaptive_gateway.mcp.context import Caller, ToolError, ToolOutput, ToolSpec
from adaptive_gateway.mcp.http import McpHttpEndpoint
from adaptive_gateway.mcp.hub import McpHub
from adaptive_gateway.mcp.protocol import build_server
from adaptive_gateway.mcp.receipts import ReceiptLog, ToolReceipt
from adaptive_gateway.mcp.reflector import RouteReflector
from adaptive_gateway.mcp.services import McpServices
from adaptive_gateway.mcp.upstream import Supervision, UpstreamServer

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

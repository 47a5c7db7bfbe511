"""Extension: the MCP server at ``/mcp`` (streamable HTTP), the MCP gateway to configured upstream MCP
servers, and the route reflector finisher. See docs/mcp.md.

``ADAPTIVE_GATEWAY_REFLECT_SECONDS`` sets how often routing outcomes are written into shared memory
(default 600; 0 writes only at shutdown).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from adaptive_gateway.mcp import McpHttpEndpoint, McpServices, build_server

if TYPE_CHECKING:
    from adaptive_gateway.server.app import GatewayApp

SERVICES_ATTR = "mcp_services"
REFLECT_ENV = "ADAPTIVE_GATEWAY_REFLECT_SECONDS"


def _reflect_interval() -> float:
    try:
        return max(float(os.environ.get(REFLECT_ENV, "600")), 0.0)
    except ValueError:
        return 600.0


def install(app: GatewayApp) -> None:
    services = McpServices(app.gateway, reflect_interval=_reflect_interval())
    endpoint = McpHttpEndpoint(app.gateway, build_server(services))
    app.mount("/mcp", endpoint)
    app.gateway.finishers.append(services.reflector.observe)
    app.gateway.readiness.append(services.hub.readiness)
    app.on_startup.append(services.start)
    app.on_startup.append(endpoint.start)
    app.on_shutdown.append(services.stop)  # shutdown hooks run in reverse: the endpoint stops first
    app.on_shutdown.append(endpoint.stop)
    setattr(app, SERVICES_ATTR, services)


def services_of(app: GatewayApp) -> McpServices | None:
    """The MCP services installed on ``app`` (None when the extension is not installed)."""
    services = getattr(app, SERVICES_ATTR, None)
    return services if isinstance(services, McpServices) else None

"""Extension: the MCP server at ``/mcp`` (streamable HTTP), the MCP gateway to configured upstream MCP
servers, and the route reflector finisher. See docs/mcp.md.

The route reflector runs from startup (it observes every request). The MCP services and the SDK
server are built on the first authenticated ``/mcp`` request, or at startup (and on a reload that
adds them) when upstream MCP servers are configured: the SDK costs each worker ~30 MB that a worker
which only proxies model traffic does not need (see server/lazy.py).

``ADAPTIVE_GATEWAY_REFLECT_SECONDS`` sets how often routing outcomes are written into shared memory
(default 600; 0 writes only at shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from adaptive_gateway.mcp.guard import ContentGuard
from adaptive_gateway.mcp.http import McpHttpEndpoint
from adaptive_gateway.mcp.memory_service import MemoryService
from adaptive_gateway.mcp.reflector import RouteReflector
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.tasks import cancel

if TYPE_CHECKING:
    from mcp.server import Server

    from adaptive_gateway.mcp.services import McpServices
    from adaptive_gateway.server.app import GatewayApp

log = logging.getLogger("adaptive_gateway.mcp")

SERVICES_ATTR = "mcp_services"
REFLECT_ENV = "ADAPTIVE_GATEWAY_REFLECT_SECONDS"


def _reflect_interval() -> float:
    try:
        return max(float(os.environ.get(REFLECT_ENV, "600")), 0.0)
    except ValueError:
        return 600.0


class McpRuntime:
    """The reflector (always) and the MCP services (built on first need) of one app."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.reflector = RouteReflector(MemoryService(ContentGuard()), interval=_reflect_interval())
        self.services: McpServices | None = None
        self.endpoint = McpHttpEndpoint(gateway, self.server)
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None

    async def ensure(self) -> McpServices:
        """The MCP services, built and started on the first call."""
        async with self._lock:
            if self.services is None:
                from adaptive_gateway.mcp.services import McpServices

                services = McpServices(self.gateway, reflector=self.reflector)
                await services.start()
                self.services = services
        return self.services

    async def server(self) -> Server[Any]:
        from adaptive_gateway.mcp.protocol import build_server

        return build_server(await self.ensure())

    async def readiness(self) -> tuple[str, bool, str]:
        if self.services is None:
            return "mcp_servers", True, "none configured"
        return await self.services.hub.readiness()

    async def start(self) -> None:
        self.reflector.start()
        if self.gateway.config.source.mcp_servers:
            await self.endpoint.start()
        else:  # build when a reload adds upstream MCP servers
            self._watcher = asyncio.get_running_loop().create_task(self._await_servers())

    async def _await_servers(self) -> None:
        while self.services is None:
            await asyncio.sleep(max(self.gateway.config.source.server.reload_poll_seconds, 0.5))
            if self.gateway.config.source.mcp_servers and self.services is None:
                try:
                    await self.endpoint.start()
                except Exception:
                    log.warning("could not start the MCP services for the new mcp_servers", exc_info=True)

    async def stop(self) -> None:
        await cancel(self._watcher)
        self._watcher = None
        await self.endpoint.stop()
        if self.services is not None:
            await self.services.stop()  # stops the reflector too
        else:
            await self.reflector.stop()


def install(app: GatewayApp) -> None:
    runtime = McpRuntime(app.gateway)
    app.mount("/mcp", runtime.endpoint)
    app.gateway.finishers.append(runtime.reflector.observe)
    app.gateway.readiness.append(runtime.readiness)
    app.on_startup.append(runtime.start)
    app.on_shutdown.append(runtime.stop)
    setattr(app, SERVICES_ATTR, runtime)


def runtime_of(app: GatewayApp) -> McpRuntime | None:
    runtime = getattr(app, SERVICES_ATTR, None)
    return runtime if isinstance(runtime, McpRuntime) else None


def services_of(app: GatewayApp) -> McpServices | None:
    """The MCP services installed on ``app`` if they are built (None otherwise)."""
    runtime = runtime_of(app)
    return None if runtime is None else runtime.services

"""Everything the MCP server needs, hung off one object per app: the tool table, shared memory, the
upstream MCP hub, receipts and the route reflector. Tool calls are dispatched here."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import mcp.types as types
from mcp.shared.exceptions import MCPError

from adaptive_gateway.config import gateway_home
from adaptive_gateway.errors import GatewayError
from adaptive_gateway.mcp.context import Caller, ToolError, ToolSpec, error_result
from adaptive_gateway.mcp.gateway_tools import GatewayTools
from adaptive_gateway.mcp.guard import ContentGuard
from adaptive_gateway.mcp.handoff_tools import HandoffTools
from adaptive_gateway.mcp.hub import McpHub
from adaptive_gateway.mcp.memory_service import MemoryService
from adaptive_gateway.mcp.memory_tools import MemoryTools
from adaptive_gateway.mcp.receipts import RECEIPTS_DIR, LedgerSink, ReceiptLog
from adaptive_gateway.mcp.reflector import RouteReflector
from adaptive_gateway.mcp.resources import MemoryResources
from adaptive_gateway.mcp.upstream import Supervision
from adaptive_gateway.memory import MemoryStoreError
from adaptive_gateway.pipeline.gateway import Gateway

log = logging.getLogger("adaptive_gateway.mcp")

# passthrough callers present a provider key, not a gateway key: only the model tools are theirs
_PASSTHROUGH_TOOLS = ("gateway_",)


def _visible(caller: Caller, name: str) -> bool:
    return caller.principal.kind != "passthrough" or name.startswith(_PASSTHROUGH_TOOLS)


class McpServices:
    def __init__(
        self,
        gateway: Gateway,
        *,
        memory_root: Path | None = None,
        reflect_interval: float = 600.0,
        supervision: Supervision | None = None,
        reflector: RouteReflector | None = None,
    ) -> None:
        """``reflector``: one already observing requests (the server extension starts it before the
        services are built); its memory service and guard are shared."""
        self.gateway = gateway
        if reflector is None:
            self.guard = ContentGuard()
            self.memory = MemoryService(self.guard, memory_root)
            self.reflector = RouteReflector(self.memory, interval=reflect_interval)
        else:
            self.reflector, self.memory, self.guard = reflector, reflector.memory, reflector.memory.guard
        self.receipts = ReceiptLog(gateway.log.write, ledger=LedgerSink.open(gateway_home() / RECEIPTS_DIR))
        self.hub = McpHub(self.guard, self.receipts, supervision)
        self.resources = MemoryResources(self.memory)
        specs: list[ToolSpec] = [
            *GatewayTools(gateway, self.reflector, self.status).specs(),
            *MemoryTools(self.memory).specs(),
            *HandoffTools(self.memory).specs(),
        ]
        self.tools: dict[str, ToolSpec] = {spec.name: spec for spec in specs}
        self._watcher: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect the configured MCP servers, start the reflector and follow config reloads."""
        await self.hub.reconcile(self.gateway.config.source.mcp_servers)
        self.reflector.start()
        self._watcher = asyncio.get_running_loop().create_task(self._follow_config())

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
        await self.hub.stop()
        await self.reflector.stop()
        await self.receipts.stop()

    async def _follow_config(self) -> None:
        while True:
            await asyncio.sleep(max(self.gateway.config.source.server.reload_poll_seconds, 0.5))
            wanted = self.gateway.config.source.mcp_servers
            if wanted != self.hub.configs:
                try:
                    await self.hub.reconcile(wanted)
                except Exception:
                    log.warning("could not apply the new mcp_servers config", exc_info=True)

    async def status(self) -> dict[str, Any]:
        """What ``/health/ready`` reports, plus each MCP server's state."""
        gw = self.gateway
        checks: dict[str, Any] = {"config": {"ok": True, "detail": f"digest {gw.config.digest}"}}
        for check in gw.readiness:
            name, ok, detail = await check()
            checks[name] = {"ok": ok, "detail": detail}
        ready = all(c["ok"] for c in checks.values())
        return {
            "status": "ready" if ready else "not_ready",
            "checks": checks,
            "inflight": gw.inflight,
            "mcp_servers": self.hub.snapshot(),
        }

    # -- tools --------------------------------------------------------------------------------------

    def list_tools(self, caller: Caller) -> list[types.Tool]:
        own = [spec.to_mcp() for name, spec in self.tools.items() if _visible(caller, name)]
        upstream = self.hub.tools_for(caller.principal) if caller.principal.kind != "passthrough" else []
        return own + upstream

    async def call_tool(self, caller: Caller, name: str, args: dict[str, Any]) -> types.CallToolResult:
        """Run a tool. Tool failures are ``isError`` results; an unknown tool is an MCP error (-32602)."""
        spec = self.tools.get(name)
        if spec is None:
            if self.hub.owns(name) and caller.principal.kind != "passthrough":
                return await self.hub.call(caller, name, args)
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {name}")
        started = time.perf_counter()
        status, reason = "ok", None
        try:
            if not _visible(caller, name):
                raise ToolError(f"{name} needs a gateway key; the gateway runs in passthrough mode")
            spec.check(args)
            return (await spec.handler(caller, args)).result()
        except ToolError as exc:
            status, reason = "tool_error", exc.message
            return error_result(exc.message, exc.data)
        except MemoryStoreError as exc:
            status, reason = "tool_error", str(exc)
            return error_result(str(exc), {"type": type(exc).__name__})
        except GatewayError as exc:
            status, reason = "tool_error", exc.message
            return error_result(exc.message, {"type": exc.type, "status": exc.status, "code": exc.code})
        except Exception as exc:  # never let a tool crash the session
            log.exception("MCP tool %s failed", name)
            status, reason = "error", f"{type(exc).__name__}: {exc}"
            return error_result(f"internal error in {name}: {type(exc).__name__}", {"type": "internal_error"})
        finally:
            self.receipts.record(caller, name, "gateway", None, status, reason, started, args)

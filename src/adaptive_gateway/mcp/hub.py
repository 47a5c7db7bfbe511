"""The MCP gateway: upstream MCP servers from ``mcp_servers:`` re-exposed through ``/mcp``.

Each server's tools are published as ``<server>__<tool>``. A call is checked, in order: the key may
use the server and the tool (``keys:`` allow-lists of glob patterns per key id, ``"*"`` for any
key; the server's ``tools:`` patterns limit what is published at all), then the arguments' content
(trust detectors: a secret, or anything above the server's ``max_trust``, is blocked before it
leaves). Every call leaves a receipt.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Mapping
from typing import Any

import mcp.types as types
from mcp.shared.exceptions import MCPError

from adaptive_gateway.config.schema import McpServerConfig
from adaptive_gateway.mcp.context import Caller, error_result
from adaptive_gateway.mcp.guard import ContentGuard
from adaptive_gateway.mcp.names import namespaced, split_namespaced
from adaptive_gateway.mcp.receipts import ReceiptLog
from adaptive_gateway.mcp.upstream import Supervision, Unavailable, UpstreamServer
from adaptive_gateway.memory import TrustLevel
from adaptive_gateway.pipeline.context import Principal


def _matches(name: str, patterns: list[str] | None) -> bool:
    return patterns is None or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def key_patterns(config: McpServerConfig, principal: Principal) -> list[str] | None:
    """The tool patterns ``principal`` may call on this server: None = all, [] = none."""
    if config.keys is None:
        return None
    found = config.keys.get(principal.id)
    if found is None:
        found = config.keys.get("*")
    return found if found is not None else []


class McpHub:
    """The configured upstream servers and the checks around calling them."""

    def __init__(
        self, guard: ContentGuard, receipts: ReceiptLog, supervision: Supervision | None = None
    ) -> None:
        self.guard = guard
        self.receipts = receipts
        self.supervision = supervision or Supervision()
        self.servers: dict[str, UpstreamServer] = {}
        self.configs: Mapping[str, McpServerConfig] = {}

    # -- lifecycle ----------------------------------------------------------------------------------

    async def reconcile(self, configs: Mapping[str, McpServerConfig]) -> None:
        """Start new servers, stop removed or disabled ones, restart changed ones."""
        self.configs = configs
        wanted = {name: cfg for name, cfg in configs.items() if cfg.enabled}
        stale = [name for name, srv in self.servers.items() if wanted.get(name) != srv.config]
        await asyncio.gather(*(self.servers.pop(name).stop() for name in stale))
        for name, cfg in wanted.items():
            if name not in self.servers:
                server = self.servers[name] = UpstreamServer(name, cfg, self.supervision)
                server.start()

    async def stop(self) -> None:
        servers, self.servers = list(self.servers.values()), {}
        await asyncio.gather(*(srv.stop() for srv in servers))

    async def wait_ready(self, timeout: float) -> bool:
        """True once every server is connected (or ``timeout`` passed with some still down)."""
        results = await asyncio.gather(*(srv.wait_ready(timeout) for srv in self.servers.values()))
        return all(results)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: srv.snapshot() for name, srv in sorted(self.servers.items())}

    async def readiness(self) -> tuple[str, bool, str]:
        """``/health/ready`` check: every server ready; the detail names the others and why."""
        if not self.servers:
            return "mcp_servers", True, "none configured"
        down = {n: s for n, s in self.servers.items() if s.state != "ready"}
        if not down:
            return "mcp_servers", True, f"{len(self.servers)} ready"
        detail = "; ".join(
            f"{n}: {s.state}, {s.restarts} restart(s)" + (f", {s.last_error}" if s.last_error else "")
            for n, s in sorted(down.items())
        )
        return "mcp_servers", False, detail

    # -- publishing ---------------------------------------------------------------------------------

    def tools_for(self, principal: Principal) -> list[types.Tool]:
        """The upstream tools this key may call, namespaced, from servers that are connected."""
        out: list[types.Tool] = []
        for name, server in sorted(self.servers.items()):
            allowed = key_patterns(server.config, principal)
            for tool in server.tools:
                if _matches(tool.name, server.config.tools) and _matches(tool.name, allowed):
                    out.append(_published(name, tool))
        return out

    def resolve(self, published: str) -> tuple[UpstreamServer, str] | None:
        """The server and upstream tool name behind a published name, or None."""
        parts = split_namespaced(published)
        server = self.servers.get(parts[0]) if parts else None
        if parts is None or server is None:
            return None
        tool = next((t.name for t in server.tools if namespaced(server.name, t.name) == published), parts[1])
        return server, tool

    def owns(self, published: str) -> bool:
        parts = split_namespaced(published)
        return parts is not None and parts[0] in self.configs

    # -- calling ------------------------------------------------------------------------------------

    async def call(self, caller: Caller, published: str, args: dict[str, Any]) -> types.CallToolResult:
        """Check and forward one call; always returns a result (errors as ``isError``) and a receipt."""
        started = time.perf_counter()
        target = self.resolve(published)
        server_name = published.partition("__")[0]
        upstream_tool = target[1] if target else None
        status, reason, result = "ok", None, None
        try:
            if target is None:
                status, reason = "unavailable", f"MCP server '{server_name}' is not running"
                return error_result(reason, {"type": "unavailable"})
            server, tool = target
            denial = self._denial(server, tool, caller.principal)
            if denial is not None:
                status, reason = "denied", denial
                return error_result(denial, {"type": "permission_denied"})
            blocked = self._blocked(server, args)
            if blocked is not None:
                status, reason = "blocked", blocked
                return error_result(blocked, {"type": "trust_blocked"})
            result = await server.call(tool, args)
            if result.is_error:
                status = "tool_error"
            return result
        except Unavailable as exc:
            status, reason = "unavailable", str(exc)
            return error_result(str(exc), {"type": "unavailable"})
        except MCPError as exc:
            status, reason = "error", exc.message
            return error_result(
                f"MCP server '{server_name}': {exc.message}", {"type": "upstream_error", "code": exc.code}
            )
        finally:
            self.receipts.record(caller, published, server_name, upstream_tool, status, reason, started, args)

    def _denial(self, server: UpstreamServer, tool: str, principal: Principal) -> str | None:
        if not _matches(tool, server.config.tools):
            return f"tool '{tool}' of MCP server '{server.name}' is not published by this gateway"
        allowed = key_patterns(server.config, principal)
        if not _matches(tool, allowed):
            return f"this key ({principal.id}) may not call '{tool}' on MCP server '{server.name}'"
        return None

    def _blocked(self, server: UpstreamServer, args: dict[str, Any]) -> str | None:
        verdict = self.guard.scan_arguments(args)
        limit = TrustLevel.parse(server.config.max_trust)
        if verdict.level.rank <= limit.rank:
            return None
        what = ", ".join(verdict.types) or verdict.level.value
        return (
            f"blocked: the arguments carry {verdict.level.value} content ({what}) and MCP server "
            f"'{server.name}' may receive at most {limit.value} content (mcp_servers.{server.name}.max_trust)"
        )


def _published(server: str, tool: types.Tool) -> types.Tool:
    description = f"[{server}] {tool.description or tool.title or tool.name}"
    return tool.model_copy(update={"name": namespaced(server, tool.name), "description": description})

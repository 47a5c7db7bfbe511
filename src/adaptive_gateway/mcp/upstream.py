"""A connection to one upstream MCP server, supervised: connected in a background task, watched, and
restarted with exponential backoff when it dies (the stdio process exits, the HTTP session ends, a
call finds the connection closed, or a periodic tool refresh fails).

The official SDK's :class:`mcp.Client` does the protocol work. The client is entered and left in the
supervisor task (anyio cancel scopes require that); tool calls from request tasks share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import mcp.types as types
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from adaptive_gateway.config.schema import McpServerConfig
from mcp import Client

log = logging.getLogger("adaptive_gateway.mcp.upstream")


class Unavailable(Exception):
    """The server cannot take the call now (not connected yet, restarting, or the connection broke)."""


@dataclass(frozen=True, slots=True)
class Supervision:
    """Backoff between restarts (doubling from ``backoff_min`` to ``backoff_max``; reset once a connection
    has stayed up for ``stable_after`` seconds), how often the tool list is refreshed (which also probes
    the connection), how long connecting may take and how long a call waits for a restart."""

    backoff_min: float = 0.25
    backoff_max: float = 30.0
    stable_after: float = 30.0
    refresh_interval: float = 15.0
    connect_timeout: float = 30.0
    call_wait: float = 10.0


class _WatchedReadStream:
    """Forwards a transport's read stream and sets ``closed`` when it ends (the peer went away)."""

    def __init__(self, inner: Any, closed: asyncio.Event) -> None:
        self._inner = inner
        self._closed = closed

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._closed.set()
            raise

    def __aiter__(self) -> _WatchedReadStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._closed.set()
        await self._inner.aclose()

    async def __aenter__(self) -> _WatchedReadStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


@contextlib.asynccontextmanager
async def _transport(config: McpServerConfig, closed: asyncio.Event) -> AsyncIterator[tuple[Any, Any]]:
    async with contextlib.AsyncExitStack() as stack:
        if config.command is not None:
            params = StdioServerParameters(
                command=config.command, args=list(config.args), env=dict(config.env) or None, cwd=config.cwd
            )
            read, write = await stack.enter_async_context(stdio_client(params, errlog=sys.stderr))
        else:
            assert config.url is not None
            http = await stack.enter_async_context(create_mcp_http_client(headers=dict(config.headers)))
            read, write = await stack.enter_async_context(
                streamable_http_client(config.url, http_client=http)
            )
        yield _WatchedReadStream(read, closed), write


class UpstreamServer:
    """One configured MCP server: ``start()`` it, ``call()`` its tools, read ``state`` / ``snapshot()``."""

    def __init__(self, name: str, config: McpServerConfig, supervision: Supervision | None = None) -> None:
        self.name = name
        self.config = config
        self.supervision = supervision or Supervision()
        self.state = "stopped"  # stopped | starting | ready | restarting
        self.tools: list[types.Tool] = []
        self.restarts = 0
        self.last_error: str | None = None
        self.connected_at: float | None = None
        self.server_info: str | None = None
        self._client: Client | None = None
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()  # a call found the connection broken
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def transport(self) -> str:
        return "stdio" if self.config.command is not None else "streamable-http"

    def start(self) -> None:
        if self._task is None:
            self._stopped.clear()
            self.state = "starting"
            self._task = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"mcp-upstream-{self.name}"
            )

    async def stop(self) -> None:
        self._stopped.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self.state = "stopped"

    async def wait_ready(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self._ready.is_set()

    def snapshot(self) -> dict[str, Any]:
        """State for /health/ready, ``doctor`` and ``gateway_health``."""
        return {
            "state": self.state,
            "transport": self.transport,
            "tools": len(self.tools),
            "restarts": self.restarts,
            "last_error": self.last_error,
            "up_seconds": round(time.monotonic() - self.connected_at, 1) if self.connected_at else None,
            "server": self.server_info,
        }

    # -- calls --------------------------------------------------------------------------------------

    async def call(self, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Call ``tool`` upstream. Raises Unavailable when the server is down or the connection breaks;
        other upstream protocol errors propagate as MCPError."""
        client = self._client
        if client is None and (self.state == "starting" or any(t.name == tool for t in self.tools)):
            # a first connect, or a restart of a server that had this tool: worth a short wait
            await self.wait_ready(min(self.supervision.call_wait, self.config.timeout))
            client = self._client
        if client is None:
            raise Unavailable(self._down_message())
        try:
            return await client.call_tool(tool, arguments, read_timeout_seconds=self.config.timeout)
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                self._broken(f"connection closed during {tool}")
                raise Unavailable(
                    f"MCP server '{self.name}' went away during the call; it is being restarted"
                ) from None
            raise

    def _down_message(self) -> str:
        why = f" (last error: {self.last_error})" if self.last_error else ""
        return f"MCP server '{self.name}' is {self.state}{why}"

    def _broken(self, reason: str) -> None:
        if self._client is not None:
            self.last_error = reason
            self._wake.set()

    # -- supervision --------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        sup = self.supervision
        delay = sup.backoff_min
        while not self._stopped.is_set():
            started = time.monotonic()
            try:
                await self._connect_and_watch()
            except Exception as exc:  # every failure means: restart with backoff
                self.last_error = _describe(exc)
                log.warning("MCP server %s failed: %s", self.name, self.last_error)
            if self._stopped.is_set():
                break
            if time.monotonic() - started >= sup.stable_after:
                delay = sup.backoff_min
            self.state = "restarting"
            self.restarts += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)  # stop() cuts the wait short
            delay = min(delay * 2, sup.backoff_max)

    async def _connect_and_watch(self) -> None:
        closed = asyncio.Event()
        self._wake.clear()
        # the handshake is bounded by the client's read timeout; no cancel scope may span entering the
        # client (its task group must close in the scope it opened in)
        client = Client(_transport(self.config, closed), cache=None, read_timeout_seconds=self.config.timeout)
        async with client:
            with anyio.fail_after(self.supervision.connect_timeout):
                self.tools = await _list_tools(client)
            info = client.server_info
            self.server_info = f"{info.name} {info.version}".strip() if info else None
            self._client, self.connected_at, self.state = client, time.monotonic(), "ready"
            self._ready.set()
            log.info("MCP server %s ready (%d tools)", self.name, len(self.tools))
            try:
                await self._watch(client, closed)
            finally:
                self._client, self.connected_at = None, None
                self._ready.clear()

    async def _watch(self, client: Client, closed: asyncio.Event) -> None:
        """Return (so the supervisor restarts) when the connection closes or a call found it broken;
        refresh the tool list every ``refresh_interval`` seconds, which also probes the connection."""
        while not self._stopped.is_set():
            waiters = [asyncio.ensure_future(e.wait()) for e in (closed, self._wake, self._stopped)]
            try:
                done, _ = await asyncio.wait(
                    waiters, timeout=self.supervision.refresh_interval, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()
            if closed.is_set():
                raise Unavailable("connection closed")
            if done:
                return
            with anyio.fail_after(self.supervision.connect_timeout):
                self.tools = await _list_tools(client)


async def _list_tools(client: Client) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(50):  # pages
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions[:3])
    if isinstance(exc, TimeoutError):
        return "timed out connecting"
    text = str(exc) or type(exc).__name__
    return text[:300]

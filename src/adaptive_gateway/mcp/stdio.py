"""``adaptive-llm-gateway mcp``: the MCP server on stdin/stdout.

Two modes. In-process (default): the same tools as ``/mcp``, served by an in-process gateway built
from the config file, acting with the master principal (the stdio process runs as the user who owns
that config). Bridge (``--url``): a stdio front for a running gateway's ``/mcp``, authenticated with a
gateway key; everything runs in that gateway (its memory, keys, limits and MCP servers).
"""

from __future__ import annotations

import contextlib
from typing import Any

import mcp.types as types
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared._httpx_utils import create_mcp_http_client

from adaptive_gateway import __version__
from adaptive_gateway.mcp.protocol import INSTRUCTIONS, SERVER_NAME
from mcp import Client

Ctx = ServerRequestContext[Any, Any]


async def run_stdio(server: Server[Any]) -> None:
    """Serve ``server`` on this process's stdin/stdout until the client closes them."""
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def bridge_server(upstream: Client) -> Server[Any]:
    """A server that forwards tools and resources to ``upstream`` (the gateway's ``/mcp``)."""

    async def list_tools(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return await upstream.list_tools(cursor=params.cursor if params else None)

    async def call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await upstream.call_tool(params.name, params.arguments or {})

    async def list_resources(
        ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return await upstream.list_resources(cursor=params.cursor if params else None)

    async def list_templates(
        ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return await upstream.list_resource_templates(cursor=params.cursor if params else None)

    async def read_resource(ctx: Ctx, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        return await upstream.read_resource(str(params.uri))

    return Server(
        SERVER_NAME,
        version=__version__,
        title="Adaptive LLM Gateway",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )


async def run_bridge(url: str, key: str, agent: str | None = None) -> None:
    """Connect to ``url`` (the gateway's root or its ``/mcp``) with ``key`` and serve it on stdio."""
    endpoint = url.rstrip("/") if url.rstrip("/").endswith("/mcp") else url.rstrip("/") + "/mcp"
    headers = {"Authorization": f"Bearer {key}"}
    if agent:
        headers["X-Adaptive-Agent"] = agent
    info = types.Implementation(name=agent or "adaptive-gateway-bridge", version=__version__)
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
        upstream = Client(streamable_http_client(endpoint, http_client=http), cache=None, client_info=info)
        await stack.enter_async_context(upstream)
        await run_stdio(bridge_server(upstream))

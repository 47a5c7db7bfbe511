"""The MCP server itself (the SDK's low-level :class:`Server`): tools and memory resources, with the
caller taken from the authenticated HTTP request (``/mcp``) or fixed for a stdio process."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import mcp.types as types
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from adaptive_gateway import __version__
from adaptive_gateway.mcp.context import SCOPE_KEY, Caller
from adaptive_gateway.mcp.services import McpServices

SERVER_NAME = "adaptive-llm-gateway"

INSTRUCTIONS = """\
Adaptive LLM Gateway: models, shared memory and handoffs for every agent on this machine or team.
- gateway_complete / gateway_chat call a model through the gateway (routing, fallbacks, limits, receipts);
  gateway_route_preview shows where a request would go; gateway_health lists models and status.
- memory_search / memory_read find what other agents recorded; memory_write, memory_record_decision,
  memory_record_task and memory_append_session record your own work (one git commit each).
- handoff_create hands a task to another agent; handoff_list(mine=true) shows what is waiting for you;
  handoff_accept then handoff_complete close the loop.
- Tools named <server>__<tool> belong to other MCP servers connected through the gateway.
Pass 'agent' (e.g. 'claude', 'codex') to memory and handoff tools when your client's name is not
your agent name."""


def caller_of(ctx: ServerRequestContext[Any, Any], stdio_caller: Caller | None) -> Caller:
    """The caller the HTTP endpoint authenticated (or the stdio process's), with the client's name."""
    request = ctx.request
    scope = getattr(request, "scope", None)
    caller = scope.get(SCOPE_KEY) if isinstance(scope, dict) else None
    caller = caller if isinstance(caller, Caller) else stdio_caller
    if caller is None:
        raise MCPError(types.INVALID_REQUEST, "unauthenticated: send a gateway key")
    params = ctx.session.client_params
    name = params.client_info.name if params is not None and params.client_info is not None else None
    return replace(caller, client_name=name) if name else caller


def _refuse_passthrough(caller: Caller) -> None:
    if caller.principal.kind == "passthrough":
        raise MCPError(types.INVALID_REQUEST, "memory resources need a gateway key (passthrough mode)")


def build_server(services: McpServices, stdio_caller: Caller | None = None) -> Server[Any]:
    """An SDK server over ``services``; ``stdio_caller`` is the identity of a stdio process."""

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=services.list_tools(caller_of(ctx, stdio_caller)))

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        return await services.call_tool(caller_of(ctx, stdio_caller), params.name, params.arguments or {})

    async def list_resources(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        _refuse_passthrough(caller_of(ctx, stdio_caller))
        return await services.resources.list_page(params.cursor if params else None)

    async def list_templates(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return services.resources.templates()

    async def read_resource(
        ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        caller = caller_of(ctx, stdio_caller)
        _refuse_passthrough(caller)
        return await services.resources.read(str(params.uri), caller.principal)

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

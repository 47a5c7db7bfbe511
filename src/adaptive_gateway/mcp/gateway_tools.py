"""The ``gateway_*`` tools: model calls through the full pipeline as the calling key, health, route
previews and feedback on answers.

A call builds a :class:`RequestContext` for the MCP caller's principal and runs ``Gateway.complete``:
stages (limits, trust), routing, execution with fallbacks, and the finishers (request log, usage,
receipts, the route reflector) all apply, exactly as for an HTTP client.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from adaptive_gateway.errors import GatewayError
from adaptive_gateway.mcp import schema as s
from adaptive_gateway.mcp.context import Caller, ToolDef, ToolError, ToolOutput, ToolSpec
from adaptive_gateway.mcp.reflector import RouteReflector
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.routing.explain import explain
from adaptive_gateway.types import ChatRequest, ChatResponse, ContentPart, Message, ResponseFormat

Args = dict[str, Any]
StatusSource = Callable[[], Awaitable[dict[str, Any]]]

_MESSAGE = s.obj(
    {
        "role": s.string("Who speaks.", enum=("system", "user", "assistant")),
        "content": s.string("The message text.", min_length=1),
    },
    ("role", "content"),
)
_COMMON: dict[str, s.Schema] = {
    "model": s.string("Model or alias (see gateway_health); default: the first configured model."),
    "max_tokens": s.integer("Maximum tokens to generate.", minimum=1),
    "temperature": s.number("Sampling temperature.", minimum=0, maximum=2),
    "json_schema": {
        "type": "object",
        "description": "Make the answer a JSON value valid against this JSON Schema (structured output).",
    },
    "task_type": s.string("Label for the route reflector (e.g. 'summarize', 'code-review')."),
}


def _text(role: str, text: str) -> Message:
    return Message(role, [ContentPart("text", text=text)])  # type: ignore[arg-type]


class GatewayTools:
    def __init__(self, gateway: Gateway, reflector: RouteReflector | None, status: StatusSource) -> None:
        self.gateway = gateway
        self.reflector = reflector
        self.status = status

    # -- model calls --------------------------------------------------------------------------------

    async def complete(self, caller: Caller, args: Args) -> ToolOutput:
        messages = [_text("system", args["system"])] if args.get("system") else []
        messages.append(_text("user", args["prompt"]))
        return await self._call(caller, args, messages, "gateway_complete")

    async def chat(self, caller: Caller, args: Args) -> ToolOutput:
        messages = [_text(m["role"], m["content"]) for m in args["messages"]]
        return await self._call(caller, args, messages, "gateway_chat")

    def _context(self, caller: Caller, route: str) -> RequestContext:
        gw = self.gateway
        ctx = RequestContext(
            "req_" + os.urandom(12).hex(), f"mcp/{route}", gw.config, dict(caller.headers), caller.client_ip
        )
        ctx.principal = caller.principal
        ctx.provider_key = caller.provider_key
        return ctx

    def _model(self, ctx: RequestContext, args: Args) -> str:
        model = args.get("model")
        if isinstance(model, str) and model:
            return model
        names = ctx.config.public_names()
        allowed = ctx.principal.allowed_models if ctx.principal else None
        usable = [n for n in names if allowed is None or n in allowed]
        if not usable:
            raise ToolError("no model is configured for this key; add models to the gateway config")
        return usable[0]

    async def _call(self, caller: Caller, args: Args, messages: list[Message], route: str) -> ToolOutput:
        gw = self.gateway
        ctx = self._context(caller, route)
        schema = args.get("json_schema")
        ctx.request = ChatRequest(
            model=self._model(ctx, args),
            messages=messages,
            max_tokens=args.get("max_tokens"),
            temperature=args.get("temperature"),
            response_format=ResponseFormat("json_schema", schema=schema, name="result") if schema else None,
            metadata={"task_type": args["task_type"]} if args.get("task_type") else {},
            wire="mcp",  # no client format to pass bytes through to: responses are always decoded
        )
        gw.inflight += 1
        try:
            resp = await gw.complete(ctx)
        except GatewayError as err:
            ctx.status, ctx.error = err.status, err.message
            raise ToolError(
                f"{err.type} ({err.status}): {err.message}",
                {"status": err.status, "type": err.type, "code": err.code, "request_id": ctx.request_id},
            ) from None
        finally:
            gw.inflight -= 1
            gw.finish(ctx)
        return _answer(ctx, resp)

    # -- insight ------------------------------------------------------------------------------------

    async def health(self, caller: Caller, args: Args) -> ToolOutput:
        data = await self.status()
        ctx = self._context(caller, "gateway_health")
        allowed = caller.principal.allowed_models
        data["models"] = [n for n in ctx.config.public_names() if allowed is None or n in allowed]
        if self.reflector is not None:
            data["routes_since_last_reflection"] = [
                {"model": m, "deployment": d, "task": t, "requests": st.requests, "ok": st.ok}
                for (m, d, t), st in sorted(self.reflector.pending().items())
            ]
        return ToolOutput.of(data)

    async def route_preview(self, caller: Caller, args: Args) -> ToolOutput:
        """Plans exactly like a real request (model resolution, the key's allow-list, candidate filters,
        live health) and explains each candidate, like ``POST /v1/route/preview``. Admission stages are not
        run and nothing is sent, so no quota is used."""
        gw = self.gateway
        ctx = self._context(caller, "gateway_route_preview")
        req = ctx.request = ChatRequest(
            model=self._model(ctx, args), messages=[_text("user", args.get("prompt") or "(route preview)")]
        )
        try:
            model = gw.resolve_model(ctx, req.model)
        except GatewayError as err:
            raise ToolError(err.message, {"status": err.status, "type": err.type, "code": err.code}) from None
        filters = [f for make in gw.filters if (f := make(ctx)) is not None]
        router = gw.executor.router
        plan = router.plan(ctx.config, model, filters, req, ctx.headers, caller.principal.id)
        data = explain(plan, router.board, ctx.config, router.clock())
        data["requested"] = req.model
        return ToolOutput.of(data)

    async def feedback(self, caller: Caller, args: Args) -> ToolOutput:
        if self.reflector is None:
            raise ToolError("the route reflector is not running")
        key = self.reflector.feedback(args["request_id"], args["rating"] == "good")
        if key is None:
            raise ToolError(f"unknown or expired request id {args['request_id']!r}")
        model, deployment, task = key
        data = {
            "request_id": args["request_id"],
            "rating": args["rating"],
            "model": model,
            "deployment": deployment,
            "task": task,
        }
        return ToolOutput.of(data)

    def specs(self) -> list[ToolSpec]:
        return [tool.bind(self) for tool in TOOLS]


def _answer(ctx: RequestContext, resp: ChatResponse) -> ToolOutput:
    choice = resp.choices[0] if resp.choices else None
    text = choice.message.text() if choice else ""
    dep = ctx.deployment
    usage = resp.usage
    data = {
        "text": text,
        "request_id": ctx.request_id,
        "model": ctx.request.model if ctx.request else resp.model,
        "deployment": dep.id if dep else None,
        "provider": dep.provider.name if dep else None,
        "upstream_model": dep.upstream_model if dep else resp.model,
        "finish_reason": choice.finish_reason if choice else None,
        "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
        if usage
        else None,
        "cost_usd": round(ctx.cost, 8),
        "fallbacks": ctx.fallbacks,
        "latency_ms": round(ctx.elapsed_ms(), 1),
    }
    return ToolOutput(text, data)


TOOLS: tuple[ToolDef, ...] = (
    ToolDef(
        "gateway_complete",
        "Ask a model",
        "Send one prompt (plus an optional system prompt) to a model through the gateway, as your key: "
        "routing, fallbacks, limits, trust rules, usage accounting and receipts all apply. Returns the "
        "answer and which deployment served it, tokens, cost and a request_id for gateway_feedback.",
        s.obj(
            {
                "prompt": s.string("The prompt.", min_length=1),
                "system": s.string("System prompt."),
                **_COMMON,
            },
            ("prompt",),
        ),
        "complete",
        open_world=True,
    ),
    ToolDef(
        "gateway_chat",
        "Chat with a model",
        "Send a whole conversation (system / user / assistant messages) to a model through the gateway and "
        "get the next assistant message. Same pipeline and result fields as gateway_complete.",
        s.obj(
            {
                "messages": {**s.array("The conversation, oldest first.", _MESSAGE), "minItems": 1},
                **_COMMON,
            },
            ("messages",),
        ),
        "chat",
        open_world=True,
    ),
    ToolDef(
        "gateway_health",
        "Gateway health",
        "Readiness of the gateway (config, upstream checks, connected MCP servers and their restarts), the "
        "models this key may use, and the routes seen since the last route reflection.",
        s.obj({}),
        "health",
        read_only=True,
    ),
    ToolDef(
        "gateway_route_preview",
        "Preview a route",
        "Show where a request for a model would go, in order (primary, then fallbacks), with the reason for "
        "each candidate or skipped deployment. Sends nothing and uses no quota.",
        s.obj({"model": _COMMON["model"], "prompt": s.string("Optional prompt to route.")}),
        "route_preview",
        read_only=True,
    ),
    ToolDef(
        "gateway_feedback",
        "Rate an answer",
        "Tell the gateway whether an answer (by its request_id) was good or bad; the route reflector adds it "
        "to the day's routing notes in shared memory.",
        s.obj(
            {
                "request_id": s.string("From gateway_complete / gateway_chat.", min_length=1),
                "rating": s.string("Your verdict.", enum=("good", "bad")),
                "comment": s.string("Optional remark (not stored)."),
            },
            ("request_id", "rating"),
        ),
        "feedback",
    ),
)

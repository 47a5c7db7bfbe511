"""Routing extension: ``GET /health/providers``, ``POST /v1/route/preview``, shared breakers through
Redis, active health probes, and the finisher that ends a stream's hold on its deployment.

Both routes need a key. The preview plans exactly like a real request (same filters, same live state)
without calling an upstream; pipeline stages (limits, budgets) are not run, so nothing is consumed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import orjson

from adaptive_gateway.config import Provider
from adaptive_gateway.errors import GatewayError
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.execute import Lease
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.providers.base import UpstreamRequest, base_headers
from adaptive_gateway.routing.explain import explain, providers_view
from adaptive_gateway.routing.probes import Prober
from adaptive_gateway.server.http import Http
from adaptive_gateway.server.proxy import decode_json, new_context, send_error
from adaptive_gateway.tasks import cancel
from adaptive_gateway.wire.openai_chat import OpenAIChatWire

if TYPE_CHECKING:
    from adaptive_gateway.server.app import GatewayApp

PREVIEW_MESSAGES = [{"role": "user", "content": "(route preview)"}]


async def health_providers(gw: Gateway, http: Http) -> None:
    ctx = new_context(gw, http, "/health/providers")
    try:
        gw.authenticate(ctx)
    except GatewayError as err:
        await send_error(http, ctx, err, None)
        return
    router = gw.executor.router
    shared = "redis" if router.shared is not None else "in-process"
    body = providers_view(ctx.config, router.board, router.clock(), shared)
    await http.respond(200, orjson.dumps(body), [(b"x-request-id", ctx.request_id.encode())])


async def route_preview(gw: Gateway, wire: OpenAIChatWire, http: Http) -> None:
    """Plan an OpenAI-shaped chat request (``messages`` optional) and explain every candidate."""
    ctx = new_context(gw, http, "/v1/route/preview")
    try:
        gw.authenticate(ctx)
        body = decode_json(await http.body(gw.config.source.server.max_body_bytes))
        if not body.get("messages"):
            body = {**body, "messages": PREVIEW_MESSAGES}
        req = ctx.request = wire.decode(body, {})
        model = gw.resolve_model(ctx, req.model)
        filters = [f for make in gw.filters if (f := make(ctx)) is not None]
        router = gw.executor.router
        key = ctx.principal.id if ctx.principal else None
        plan = router.plan(ctx.config, model, filters, req, ctx.headers, key)
        data = explain(plan, router.board, ctx.config, router.clock())
        data["requested"] = req.model
        await http.respond(200, orjson.dumps(data), [(b"x-request-id", ctx.request_id.encode())])
    except GatewayError as err:
        await send_error(http, ctx, err, None)


def release_stream(ctx: RequestContext) -> None:
    """A stream that was never iterated (the client left first) still ends its hold."""
    lease = ctx.notes.get("routing.lease")
    if isinstance(lease, Lease):
        lease.finish()


def install(app: GatewayApp) -> None:
    gw = app.gateway
    router = gw.executor.router
    wire = OpenAIChatWire()
    app.routes[("GET", "/health/providers")] = lambda h: health_providers(gw, h)
    app.routes[("POST", "/v1/route/preview")] = lambda h: route_preview(gw, wire, h)
    gw.finishers.append(release_stream)

    async def fetch(provider: Provider, url: str) -> int:
        resp = await gw.upstream.send(
            provider, UpstreamRequest("GET", url, base_headers(provider, None), None)
        )
        return resp.status

    prober = Prober(router.board, fetch, lambda: router.clock())  # the clock may be swapped (tests)
    tasks: list[asyncio.Task[None]] = []

    async def startup() -> None:
        state = gw.config.source.state
        if state.redis_url:
            await router.share(state.redis_url, state.redis_prefix)
        tasks.append(asyncio.create_task(prober.loop(lambda: gw.config)))

    async def shutdown() -> None:
        await cancel(*tasks)
        await router.close()

    async def breakers_ready() -> tuple[str, bool, str]:
        # never "not ready": without Redis each process keeps deciding alone
        shared = router.shared
        ping = getattr(shared, "ping", None)
        if ping is None:
            return "breakers", True, "in-process"
        _, detail = await ping()
        return "breakers", True, detail

    app.on_startup.append(startup)
    app.on_shutdown.append(shutdown)
    app.gateway.readiness.append(breakers_ready)

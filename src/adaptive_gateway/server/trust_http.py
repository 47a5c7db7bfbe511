"""HTTP routes of the trust extension: receipts and simulation. All need a gateway key.

* ``GET /api/receipts?limit=50&outcome=blocked&level=secret``: newest first; admins (the master key,
  virtual keys with the admin role) see every receipt, other keys only their own.
* ``GET /api/receipts/{id}``: one receipt (404 when unknown or not the caller's).
* ``POST /v1/simulate``: an OpenAI chat body; answers what the gateway would do (``trust_simulate``).

Exact routes and prefix routes win over mounted sub-apps, so these work whether or not the admin API
is mounted at ``/api``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from adaptive_gateway.errors import GatewayError, InvalidRequest, NotFound
from adaptive_gateway.pipeline.context import Principal, RequestContext
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.server.http import Http
from adaptive_gateway.server.proxy import decode_json, new_context, send_error
from adaptive_gateway.server.trust_runtime import TrustRuntime
from adaptive_gateway.server.trust_simulate import simulate
from adaptive_gateway.trust.stage import TrustStage
from adaptive_gateway.wire.openai_chat import OpenAIChatWire

if TYPE_CHECKING:
    from adaptive_gateway.server.app import GatewayApp

MAX_LIMIT = 1000
Receipt = dict[str, Any]


def is_admin(p: Principal | None) -> bool:
    return p is not None and (p.kind == "master" or (p.kind == "virtual" and "admin" in p.roles))


def _visible(p: Principal | None) -> Callable[[Receipt], bool]:
    if is_admin(p):
        return lambda r: True
    own = p.id if p is not None else None
    return lambda r: (r.get("principal") or {}).get("id") == own


def _filters(query: dict[str, str], p: Principal | None) -> Callable[[Receipt], bool]:
    visible = _visible(p)
    outcome, level = query.get("outcome"), query.get("level")

    def keep(r: Receipt) -> bool:
        if outcome and r.get("outcome") != outcome:
            return False
        if level and (r.get("trust") or {}).get("level") != level:
            return False
        return visible(r)

    return keep


def _limit(query: dict[str, str]) -> int:
    raw = query.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidRequest(f"limit: a number from 1 to {MAX_LIMIT}", param="limit")
    return int(raw)


async def list_receipts(gw: Gateway, runtime: TrustRuntime, http: Http) -> None:
    ctx = new_context(gw, http, "/api/receipts")
    try:
        gw.authenticate(ctx)
        limit = _limit(http.query)
        keep = _filters(http.query, ctx.principal)
        await runtime.writer.flush()  # include what was just answered
        data = await asyncio.to_thread(runtime.receipts.list, limit, keep)
        await http.respond(200, orjson.dumps({"object": "list", "data": data}), _headers(ctx))
    except GatewayError as err:
        await send_error(http, ctx, err, None)


async def get_receipt(gw: Gateway, runtime: TrustRuntime, http: Http, receipt_id: str) -> None:
    ctx = new_context(gw, http, "/api/receipts/")
    try:
        gw.authenticate(ctx)
        await runtime.writer.flush()
        receipt = await asyncio.to_thread(runtime.receipts.get, receipt_id)
        if receipt is None or not _visible(ctx.principal)(receipt):
            raise NotFound(f"no receipt '{receipt_id}'")
        await http.respond(200, orjson.dumps(receipt), _headers(ctx))
    except GatewayError as err:
        await send_error(http, ctx, err, None)


async def simulate_route(
    gw: Gateway, runtime: TrustRuntime, stage: TrustStage, wire: OpenAIChatWire, http: Http
) -> None:
    ctx = new_context(gw, http, "/v1/simulate")
    try:
        gw.authenticate(ctx)
        body = decode_json(await http.body(gw.config.source.server.max_body_bytes))
        ctx.request = wire.decode({**body, "stream": False}, {})
        result = await simulate(gw, runtime, stage, ctx)
        await http.respond(200, orjson.dumps(result), _headers(ctx))
    except GatewayError as err:
        await send_error(http, ctx, err, wire)


def _headers(ctx: RequestContext) -> list[tuple[bytes, bytes]]:
    return [(b"x-request-id", ctx.request_id.encode())]


def install_routes(app: GatewayApp, runtime: TrustRuntime, stage: TrustStage) -> None:
    gw = app.gateway
    wire = OpenAIChatWire()
    app.routes[("GET", "/api/receipts")] = lambda h: list_receipts(gw, runtime, h)
    app.prefixes.append(("GET", "/api/receipts/", lambda h, rest: get_receipt(gw, runtime, h, rest)))
    app.routes[("POST", "/v1/simulate")] = lambda h: simulate_route(gw, runtime, stage, wire, h)

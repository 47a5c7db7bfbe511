"""Health endpoints: ``/health`` and ``/health/live`` are open (minimal); ``/health/ready`` needs a key."""

from __future__ import annotations

import orjson

from adaptive_gateway.errors import GatewayError
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.server.http import Http
from adaptive_gateway.server.proxy import new_context, send_error

OK = orjson.dumps({"status": "ok"})


async def live(gw: Gateway, http: Http) -> None:
    await http.respond(200, OK)


async def ready(gw: Gateway, http: Http) -> None:
    ctx = new_context(gw, http, "/health/ready")
    try:
        gw.authenticate(ctx)
    except GatewayError as err:
        await send_error(http, ctx, err, None)
        return
    checks = {"config": {"ok": True, "detail": f"digest {gw.config.digest}"}}
    for check in gw.readiness:
        name, ok, detail = await check()
        checks[name] = {"ok": ok, "detail": detail}
    all_ok = all(c["ok"] for c in checks.values())
    body = {"status": "ready" if all_ok else "not_ready", "checks": checks, "inflight": gw.inflight}
    await http.respond(200 if all_ok else 503, orjson.dumps(body))

"""The dashboard's own APIs over other engineers' capabilities, each bounded in time and off the event
loop when it touches the disk or the network:

* ``GET /api/settings``: a summary of the running config (no secrets, no URLs with credentials).
* ``POST /api/doctor``: run the doctor's checks (``adaptive_gateway.doctor``) and return the findings.
* ``GET /api/integrations``: what is integrated (the safe config writer's manifests) and which AI clients
  discovery finds on this machine. ``POST /api/integrations/preview`` ``{"target", "mcp"}`` returns the
  diff and its digest; ``POST /api/integrations/apply`` ``{"target", "mcp", "digest"}`` writes exactly that
  diff (refused if the files changed since the preview); ``POST /api/integrations/undo`` ``{"target"}``.
  The three POSTs need the master key.
* ``GET /api/consent``: the consent ledger's entries and whether its hash chain verifies.
* ``GET /api/memory?q=&namespace=&type=&id=``: shared memory, read-only (secret items' bodies withheld).

Reads need an admin (master key, or a virtual key with the admin role); ``/api/settings`` also a viewer.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from adaptive_gateway.config import default_config_path, gateway_home
from adaptive_gateway.errors import GatewayError, PermissionDenied
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.server.http import Http
from adaptive_gateway.server.observability_api import NO_STORE, is_admin, observer_scope
from adaptive_gateway.server.observability_runtime import ObservabilityRuntime
from adaptive_gateway.server.observability_setup import (
    consent_view,
    doctor_run,
    integration_apply,
    integration_preview,
    integration_undo,
    integrations_view,
    memory_view,
)
from adaptive_gateway.server.proxy import decode_json, new_context, send_error

if TYPE_CHECKING:
    from adaptive_gateway.server.app import GatewayApp

Answer = Callable[[RequestContext], Awaitable[Any]]
Route = Callable[[Http], Awaitable[None]]
TIMEOUT = 20.0
INTEGRATIONS = "/api/integrations"


def settings_view(gw: Gateway, rt: ObservabilityRuntime) -> dict[str, Any]:
    """What the config says, without secrets."""
    cfg = gw.config
    src = cfg.source
    obs = src.observability
    return {
        "config_digest": cfg.digest,
        "mode": src.mode,
        "server": src.server.model_dump(exclude={"request_log_file"}),
        "auth_mode": src.auth.mode,
        "master_key_configured": cfg.master_key_hash is not None,
        "store": "postgresql" if (src.store.url or "").startswith("postgres") else "sqlite",
        "state": "redis" if src.state.redis_url else "in-process",
        "providers": {
            n: {"kind": p.kind, "locality": p.locality, "has_key": p.api_key is not None}
            for n, p in cfg.providers.items()
        },
        "models": sorted(cfg.models),
        "aliases": dict(cfg.aliases),
        "trust": {
            **src.trust.model_dump(mode="json", exclude={"decision"}),
            "decision_endpoint": src.trust.decision is not None,
        },
        "budgets": src.budgets.model_dump(mode="json"),
        "limits": src.limits.model_dump(mode="json"),
        "observability": {
            "metrics": obs.metrics.enabled,
            "tracing": obs.tracing.enabled,
            "tracing_exporter": obs.tracing.exporter if obs.tracing.enabled else None,
            "record_content": obs.logs.record_content,
            "recording": obs.recording.enabled,
            "multiprocess_metrics": bool(rt.metrics and rt.metrics.multiproc_dir),
        },
        "home": str(gateway_home()),
        "pid": os.getpid(),
    }


class AdminRoutes:
    def __init__(self, gw: Gateway, rt: ObservabilityRuntime, config_path: Path) -> None:
        self.gw = gw
        self.rt = rt
        self.config_path = config_path

    def url(self) -> str:
        """The address clients reach this gateway at (for the integrations they are given)."""
        server = self.gw.config.source.server
        host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host
        return f"http://{host}:{server.port}"

    async def _serve(self, http: Http, route: str, who: str, answer: Answer) -> None:
        ctx = new_context(self.gw, http, route)
        try:
            self.gw.authenticate(ctx)
            p = ctx.principal
            if who == "viewer":
                observer_scope(p)
            elif who == "master" and (p is None or p.kind != "master"):
                raise PermissionDenied("only the master key may change client configurations")
            elif who == "admin" and not is_admin(p):
                raise PermissionDenied("this needs the master key or an admin key")
            try:
                body = await asyncio.wait_for(answer(ctx), TIMEOUT)
            except TimeoutError:
                raise GatewayError(f"{route} took longer than {TIMEOUT:.0f} s", status=504) from None
            headers = [(b"x-request-id", ctx.request_id.encode()), NO_STORE]
            await http.respond(200, orjson.dumps(body), headers)
        except GatewayError as err:
            await send_error(http, ctx, err, None)

    def _read(self, route: str, who: str, work: Callable[[dict[str, str]], Any]) -> Route:
        """A GET whose ``work(query)`` runs in a thread."""

        async def handler(http: Http) -> None:
            query = dict(http.query)
            await self._serve(http, route, who, lambda ctx: asyncio.to_thread(work, query))

        return handler

    def _write(self, route: str, work: Callable[[dict[str, Any], str], Any]) -> Route:
        """A master-key POST whose ``work(json body, gateway url)`` runs in a thread."""

        async def handler(http: Http) -> None:
            async def answer(ctx: RequestContext) -> Any:
                body = decode_json(await http.body(64 * 1024))
                return await asyncio.to_thread(work, body, self.url())

            await self._serve(http, route, "master", answer)

        return handler

    def routes(self) -> dict[tuple[str, str], Route]:
        gw, rt, path = self.gw, self.rt, self.config_path
        return {
            ("GET", "/api/settings"): self._read("/api/settings", "viewer", lambda q: settings_view(gw, rt)),
            ("POST", "/api/doctor"): self._read("/api/doctor", "admin", lambda q: doctor_run(path)),
            ("GET", "/api/integrations"): self._read(
                "/api/integrations", "admin", lambda q: integrations_view()
            ),
            ("POST", "/api/integrations/preview"): self._write(
                "/api/integrations/preview", integration_preview
            ),
            ("POST", "/api/integrations/apply"): self._write("/api/integrations/apply", integration_apply),
            ("POST", "/api/integrations/undo"): self._write("/api/integrations/undo", integration_undo),
            ("GET", "/api/consent"): self._read("/api/consent", "admin", lambda q: consent_view()),
            ("GET", "/api/memory"): self._read("/api/memory", "admin", memory_view),
        }


def install_admin_routes(app: GatewayApp, rt: ObservabilityRuntime) -> None:
    path = app.reloader.path if app.reloader is not None else default_config_path()
    app.routes.update(AdminRoutes(app.gateway, rt, path).routes())

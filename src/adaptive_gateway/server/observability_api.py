"""HTTP routes of the observability extension.

* ``GET /metrics``: Prometheus exposition (OpenMetrics with exemplars when the scraper asks for it);
  needs an observer key unless ``observability.metrics.require_key`` is false.
* ``GET /api/stats?window=60&series=model&minutes=60``: rolling totals, rates, latency percentiles, and
  optionally per-minute series for charts.
* ``GET /api/traces?limit=100&model=&provider=&key=&tenant=&client=&status=ok|error|<code>&q=``: recent
  requests, newest first.
* ``GET /api/topology``: the live graph (``server/observability_topology.py``).
* ``GET /status``: public (no key): providers and models with their health, nothing secret.

Observers are the master key and virtual keys with the ``admin`` or ``viewer`` role (all tenants) or
``tenant-admin`` (their tenant only). Other keys get 403.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import orjson

from adaptive_gateway.errors import GatewayError, InvalidRequest, PermissionDenied
from adaptive_gateway.observability.sample import Sample
from adaptive_gateway.observability.stats import GROUPS, MINUTES, group, model_percentiles, summary
from adaptive_gateway.pipeline.context import Principal, RequestContext
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.server.http import Http
from adaptive_gateway.server.observability_runtime import ObservabilityRuntime
from adaptive_gateway.server.observability_status import status_page
from adaptive_gateway.server.observability_topology import topology
from adaptive_gateway.server.proxy import new_context, send_error

OBSERVER_ROLES = frozenset({"admin", "viewer"})
NO_STORE = (b"cache-control", b"no-store")


def observer_scope(p: Principal | None) -> str | None:
    """The tenant an observer is limited to (None: every tenant); 403 for keys that may not observe."""
    if p is not None and p.kind == "master":
        return None
    if p is not None and p.kind == "virtual":
        if p.roles & OBSERVER_ROLES:
            return None
        if "tenant-admin" in p.roles and p.tenant:
            return p.tenant
    raise PermissionDenied("this key may not read gateway statistics (roles: admin, viewer, tenant-admin)")


def is_admin(p: Principal | None) -> bool:
    return p is not None and (p.kind == "master" or (p.kind == "virtual" and "admin" in p.roles))


def _int(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidRequest(f"{name}: a number from {low} to {high}", param=name)
    return int(raw)


class ObservabilityApi:
    def __init__(self, gw: Gateway, rt: ObservabilityRuntime) -> None:
        self.gw = gw
        self.rt = rt

    async def _observed(
        self, http: Http, route: str, answer: Callable[[RequestContext, str | None], Any]
    ) -> None:
        """Authenticate an observer, then respond with ``answer(ctx, tenant scope)`` as JSON."""
        ctx = new_context(self.gw, http, route)
        try:
            self.gw.authenticate(ctx)
            scope = observer_scope(ctx.principal)
            result = answer(ctx, scope)
            if inspect.isawaitable(result):
                result = await result
            body = orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS)
            await http.respond(200, body, [(b"x-request-id", ctx.request_id.encode()), NO_STORE])
        except GatewayError as err:
            await send_error(http, ctx, err, None)

    async def metrics(self, http: Http) -> None:
        m = self.rt.metrics
        ctx = new_context(self.gw, http, "/api/metrics")
        try:
            if m is None:
                raise GatewayError("metrics are off (observability.metrics.enabled)", status=404)
            if self.gw.config.source.observability.metrics.require_key:
                self.gw.authenticate(ctx)
                if observer_scope(ctx.principal) is not None:
                    raise PermissionDenied("per-tenant keys may not scrape every tenant's metrics")
            self.rt.sync()
            openmetrics = "application/openmetrics-text" in http.headers.get("accept", "")
            body, ctype = await asyncio.to_thread(m.exposition, openmetrics)
            await http.respond(200, body, [NO_STORE], content_type=ctype.encode())
        except GatewayError as err:
            await send_error(http, ctx, err, None)

    async def stats(self, http: Http) -> None:
        q = http.query
        window = _int(q, "window", 60, 1, MINUTES * 60)
        minutes = _int(q, "minutes", 60, 1, MINUTES)
        series = q.get("series")
        if series is not None and series not in GROUPS:
            series = None

        async def answer(ctx: RequestContext, tenant: str | None) -> dict[str, Any]:
            stats = await self.rt.view()
            bucket = stats.window(window)
            out: dict[str, Any] = {
                "window_s": window,
                "uptime_s": round(stats.clock() - stats.started, 1),
                "inflight": self.gw.inflight,
                "recorded_requests": stats.total,
                "summary": summary(bucket, window, tenant),
                **{f"by_{g}": group(bucket, g, window, tenant) for g in GROUPS},
                "latency_by_model": model_percentiles(bucket) if tenant is None else {},
            }
            if series:
                out["series"] = {"by": series, "minutes": stats.per_minute(minutes, series, tenant)}
            return out

        await self._observed(http, "/api/stats", answer)

    async def traces(self, http: Http) -> None:
        q = http.query
        limit = _int(q, "limit", 100, 1, 5000)

        async def answer(ctx: RequestContext, tenant: str | None) -> dict[str, Any]:
            keep = _trace_filter(q, tenant)
            stats = await self.rt.view()
            rows = [_trace_row(s) for s in stats.recent_requests(keep, limit)]
            return {"object": "list", "data": rows}

        await self._observed(http, "/api/traces", answer)

    async def topology(self, http: Http) -> None:
        await self._observed(
            http, "/api/topology", lambda ctx, tenant: topology(self.gw, self.rt.stats, tenant)
        )

    async def dashboard(self, http: Http, capabilities: Callable[[], dict[str, bool]]) -> None:
        """Who the caller is and which capabilities this gateway has (the UI's first call)."""

        def answer(ctx: RequestContext, tenant: str | None) -> dict[str, Any]:
            p = ctx.principal
            assert p is not None
            who = {"kind": p.kind, "id": p.id, "roles": sorted(p.roles), "tenant": p.tenant}
            return {"principal": who, "admin": is_admin(p), "capabilities": capabilities()}

        await self._observed(http, "/api/dashboard", answer)

    async def status(self, http: Http) -> None:
        as_json = http.query.get("format") == "json" or "application/json" in http.headers.get("accept", "")
        body, ctype = status_page(self.gw, as_json)
        await http.respond(200, body, [NO_STORE], content_type=ctype)


def _trace_filter(q: dict[str, str], tenant: str | None) -> Callable[[Sample], bool]:
    exact = {name: q[name] for name in ("model", "provider", "deployment", "client", "route") if q.get(name)}
    key, want_tenant, status, text = q.get("key"), tenant or q.get("tenant"), q.get("status"), q.get("q")

    def keep(s: Sample) -> bool:
        if any(getattr(s, name) != value for name, value in exact.items()):
            return False
        if key and key not in (s.key, s.key_prefix):
            return False
        if want_tenant and s.tenant != want_tenant:
            return False
        if (status == "ok" and not s.ok) or (status == "error" and s.ok):
            return False
        if status and status.isdigit() and str(s.status) != status:
            return False
        return not text or text in (s.request_id, s.trace_id, s.receipt_id)

    return keep


def _trace_row(s: Sample) -> dict[str, Any]:
    return {
        "ts": round(s.ts, 3),
        "request_id": s.request_id,
        "route": s.route,
        "model": s.model,
        "provider": s.provider or None,
        "deployment": s.deployment or None,
        "status": s.status,
        "latency_ms": round(s.latency_s * 1000, 2),
        "upstream_ms": round(s.upstream_s * 1000, 2) if s.upstream_s is not None else None,
        "ttft_ms": round(s.ttft_s * 1000, 2) if s.ttft_s is not None else None,
        "stream": s.stream,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "cost_usd": round(s.cost, 8),
        "key": s.key or None,
        "key_prefix": s.key_prefix or None,
        "tenant": s.tenant or None,
        "client": s.client,
        "retries": s.retries,
        "fallbacks": s.fallbacks,
        "trust_level": s.trust_level,
        "trace_id": s.trace_id,
        "receipt_id": s.receipt_id,
        "error": s.error,
    }

"""The observability extension (installed last, so it sees what every other extension did to a request):
metrics, traces, the request log line, live stats, the status page and the dashboard.

Installs: one finisher (metrics, stats, the request's span, the log line: it replaces the core's log
finisher with a richer line); the wrappers of ``server/observability_hooks.py``; the routes
``/metrics``, ``/api/stats``, ``/api/traces``, ``/api/topology``, ``/status`` (public) and the dashboard's
own APIs (``server/observability_admin.py``); ``/api/recordings`` and, with
``observability.recording.enabled``, the recorder that fills it (``server/observability_recorder.py``);
the dashboard at ``/ui``; a background task that folds metrics every
``observability.metrics.flush_interval_seconds``.

``ADAPTIVE_GATEWAY_OBSERVABILITY=off`` skips all of it (the core's log line stays): ``make bench`` runs
with and without it to measure what it costs.
"""

from __future__ import annotations

import importlib.util
import os
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from adaptive_gateway.server.observability_admin import install_admin_routes
from adaptive_gateway.server.observability_api import ObservabilityApi
from adaptive_gateway.server.observability_recordings import install_recording_routes
from adaptive_gateway.server.observability_runtime import ObservabilityRuntime
from adaptive_gateway.ui import StaticUI

if TYPE_CHECKING:
    from adaptive_gateway.server.app import GatewayApp

SWITCH = "ADAPTIVE_GATEWAY_OBSERVABILITY"


def capabilities(app: GatewayApp) -> dict[str, bool]:
    """Which APIs this gateway serves (the dashboard says so plainly for those it does not)."""
    routes, mounts = app.routes, {prefix for prefix, _ in app.mounts}

    def module(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            return False

    return {
        "admin_api": "/api" in mounts,  # keys, tenants, usage, spend, budgets, audit
        "receipts": ("GET", "/api/receipts") in routes,
        "simulate": ("POST", "/v1/simulate") in routes,
        "health_providers": ("GET", "/health/providers") in routes,
        "route_preview": ("POST", "/v1/route/preview") in routes,
        "doctor": module("adaptive_gateway.doctor"),
        "integrations": module("adaptive_gateway.integrations") and module("adaptive_gateway.discovery"),
        "consent": module("adaptive_gateway.ledger.consent"),
        "memory": module("adaptive_gateway.memory"),
        "mcp": any(path == "/mcp" for _, path in routes) or "/mcp" in mounts,
        "metrics": app.extras.get("metrics") is not None,
        "recordings": getattr(app.extras.get("observability"), "recorder", None) is not None,
    }


def accounts_runtime(app: GatewayApp) -> Any:
    """The accounts extension's runtime (store, key table), found through its admission stage."""
    stages: list[Any] = list(app.gateway.stages)
    return next((s.acc for s in stages if hasattr(getattr(s, "acc", None), "store")), None)


def install(app: GatewayApp) -> None:
    if os.environ.get(SWITCH, "").strip().lower() in ("0", "off", "false", "no"):
        return
    gw = app.gateway
    cfg = gw.config.source.observability
    rt = ObservabilityRuntime(gw, cfg, lambda: accounts_runtime(app))
    with suppress(ValueError):  # our finisher writes the (richer) log line
        gw.finishers.remove(gw._log_request)
    gw.finishers.append(rt.finish)
    # the response object is kept for span attributes and recorded answers only (it costs a wrapper)
    rt.hooks.install(
        gw, keep_responses=cfg.tracing.enabled or cfg.logs.record_content or cfg.recording.enabled
    )
    if rt.recorder is not None:
        rt.recorder.install(gw)
    api = ObservabilityApi(gw, rt)
    app.routes[("GET", "/metrics")] = api.metrics
    app.routes[("GET", "/api/stats")] = api.stats
    app.routes[("GET", "/api/traces")] = api.traces
    app.routes[("GET", "/api/topology")] = api.topology
    if cfg.status_page:
        app.routes[("GET", "/status")] = api.status
    app.routes[("GET", "/api/dashboard")] = lambda h: api.dashboard(h, lambda: capabilities(app))
    install_admin_routes(app, rt)
    install_recording_routes(app, rt.recorder)
    if cfg.dashboard:
        app.mount("/ui", StaticUI("/ui"))
    app.extras["observability"] = rt
    app.extras["metrics"] = rt.metrics
    app.on_startup.append(rt.start)
    app.on_shutdown.append(rt.stop)

"""The live topology: clients (by user agent and key) -> gateway -> providers -> models, with each
node's health and traffic. Built on demand from the config, the router's live state and the stats of the
last 10 and 60 seconds; never on the request path.

Health colours: ``ok`` (score >= 80, breaker closed), ``degraded`` (lower score, half-open breaker,
cooling down after a 429), ``down`` (breaker open or score < 30), ``idle`` (a model with no deployment).
"""

from __future__ import annotations

from typing import Any

from adaptive_gateway.config import CompiledConfig, Deployment
from adaptive_gateway.observability.stats import Bucket, Stats, model_percentiles, summary
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.routing.explain import deployment_view

SHORT, LONG = 10, 60
WORST = ("ok", "degraded", "down")


def health_of(score: int, breaker: str) -> str:
    if breaker == "open" or score < 30:
        return "down"
    if breaker == "half_open" or score < 80:
        return "degraded"
    return "ok"


def _traffic(short: Bucket, long: Bucket, index: int, tenant: str | None) -> dict[str, list[float]]:
    """name -> [requests in SHORT s, requests in LONG s, errors in LONG s] by series field ``index``."""
    out: dict[str, list[float]] = {}
    for bucket, slot in ((short, 0), (long, 1)):
        for key, agg in bucket.aggs.items():
            if tenant is not None and key[4] != tenant:
                continue
            row = out.setdefault(key[index], [0, 0, 0])
            row[slot] += agg[0]
            if slot == 1:
                row[2] += agg[1]
    return out


def _rates(row: list[float] | None) -> dict[str, Any]:
    short, long, errors = row or (0, 0, 0)
    return {"rps": round(short / SHORT, 2), "requests_60s": int(long), "errors_60s": int(errors)}


def _clients(short: Bucket, long: Bucket, tenant: str | None) -> list[dict[str, Any]]:
    pairs: dict[tuple[str, str], list[float]] = {}
    for bucket, slot in ((short, 0), (long, 1)):
        for key, agg in bucket.aggs.items():
            if tenant is not None and key[4] != tenant:
                continue
            row = pairs.setdefault((key[5], key[3]), [0, 0, 0])
            row[slot] += agg[0]
            if slot == 1:
                row[2] += agg[1]
    return [
        {"id": f"client:{client}:{key}", "client": client, "key": key or None, **_rates(row)}
        for (client, key), row in sorted(pairs.items(), key=lambda kv: -kv[1][1])
    ]


def _deployments(cfg: CompiledConfig) -> list[Deployment]:
    return [d for m in cfg.models.values() for d in m.deployments if d.model_name == m.name]


def topology(gw: Gateway, stats: Stats, tenant: str | None = None) -> dict[str, Any]:
    """The graph the dashboard's first screen draws (``GET /api/topology``)."""
    cfg = gw.config
    router = gw.executor.router
    now = router.clock()
    short, long = stats.window(SHORT), stats.window(LONG)
    by_dep = _traffic(short, long, 2, tenant)
    by_provider = _traffic(short, long, 1, tenant)
    by_model = _traffic(short, long, 0, tenant)
    edges: list[dict[str, Any]] = []
    providers: dict[str, dict[str, Any]] = {}
    models: dict[str, dict[str, Any]] = {}
    for dep in _deployments(cfg):
        view = deployment_view(dep, router.state(dep), now)
        h = health_of(view["health"]["score"], view["breaker"]["state"])
        p = providers.setdefault(dep.provider.name, _provider_node(dep, by_provider))
        p["health"] = max(p["health"], h, key=WORST.index)
        m = models.setdefault(dep.model_name, _model_node(dep.model_name, cfg, by_model))
        m["health"] = h if m["health"] == "idle" else min(m["health"], h, key=WORST.index)
        edges.append(
            {
                "from": p["id"],
                "to": m["id"],
                "deployment": dep.id,
                "upstream_model": dep.upstream_model,
                "health": h,
                "score": view["health"]["score"],
                "breaker": view["breaker"]["state"],
                "latency_ms": view["health"]["latency_ms"],
                "inflight": view["health"]["inflight"],
                **_rates(by_dep.get(dep.id)),
            }
        )
    for name in cfg.models:
        models.setdefault(name, _model_node(name, cfg, by_model))
    clients = _clients(short, long, tenant)
    for c in clients:
        edges.append({"from": c["id"], "to": "gateway", "rps": c["rps"], "requests_60s": c["requests_60s"]})
    for p in providers.values():
        edges.append({"from": "gateway", "to": p["id"], "rps": p["rps"], "requests_60s": p["requests_60s"]})
    totals = summary(long, LONG, tenant)
    return {
        "gateway": {
            "id": "gateway",
            "inflight": gw.inflight,
            "mode": cfg.source.mode,
            "rps": _rates(_sum(by_provider.values()))["rps"],
            "requests_60s": totals["requests"],
            "error_rate": totals["error_rate"],
            "latency_ms": totals.get("latency_ms"),
        },
        "clients": clients,
        "providers": list(providers.values()),
        "models": list(models.values()),
        "edges": edges,
        "latency_by_model": model_percentiles(long) if tenant is None else {},
        "window_s": {"rate": SHORT, "counts": LONG},
    }


def _sum(rows: Any) -> list[float]:
    total = [0.0, 0.0, 0.0]
    for row in rows:
        for i, v in enumerate(row):
            total[i] += v
    return total


def _provider_node(dep: Deployment, traffic: dict[str, list[float]]) -> dict[str, Any]:
    p = dep.provider
    return {
        "id": f"provider:{p.name}",
        "name": p.name,
        "kind": p.kind,
        "locality": p.locality,
        "health": "ok",
        **_rates(traffic.get(p.name)),
    }


def _model_node(name: str, cfg: CompiledConfig, traffic: dict[str, list[float]]) -> dict[str, Any]:
    model = cfg.models[name]
    kind = "router" if model.router else "split" if model.split else "model"
    aliases = sorted(a for a, target in cfg.aliases.items() if target == name)
    return {
        "id": f"model:{name}",
        "name": name,
        "kind": kind,
        "aliases": aliases,
        "strategy": model.strategy,
        "fallbacks": list(cfg.chain(model)),
        "health": "idle",
        **_rates(traffic.get(name)),
    }

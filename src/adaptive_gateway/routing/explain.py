"""Route explanations and health views, as plain JSON-able dicts: what ``POST /v1/route/preview``,
``GET /health/providers`` and the CLI show. Built on demand, never on the request path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adaptive_gateway.config import CompiledConfig, Deployment, Model
from adaptive_gateway.routing.health import Board, DeploymentState
from adaptive_gateway.routing.plan import Plan
from adaptive_gateway.routing.strategies import meets_thresholds

Why = Callable[[Model, Deployment, Board, float], str]


def _ms(value: float | None) -> str:
    return "not measured yet" if value is None else f"{value:.0f} ms"


def _weight(m: Model, d: Deployment, b: Board, now: float) -> str:
    total = m.cum_weights[-1] if m.cum_weights else d.weight
    return f"weight {d.weight:g} of {total:g}"


def _latency(m: Model, d: Deployment, b: Board, now: float) -> str:
    return f"latency EWMA {_ms(b.state(d).health.ewma_ms)}"


def _cost(m: Model, d: Deployment, b: Board, now: float) -> str:
    price = f"${d.input_price:g} in / ${d.output_price:g} out per Mtok"
    if m.min_quality is None and m.max_latency_ms is None:
        return price
    meets = "meets" if meets_thresholds(m, d, b) else "misses"
    return f"{price}; {meets} the quality / latency thresholds"


def _quality(m: Model, d: Deployment, b: Board, now: float) -> str:
    return f"quality {d.quality:g}" if d.quality is not None else "quality not configured (counts as 50)"


def _health(m: Model, d: Deployment, b: Board, now: float) -> str:
    st = b.state(d)
    return f"health {st.health.score(now, st.breaker)} x weight {d.weight:g}"


def _busy(m: Model, d: Deployment, b: Board, now: float) -> str:
    return f"{b.state(d).health.inflight} in flight"


def _balanced(m: Model, d: Deployment, b: Board, now: float) -> str:
    return f"{_cost(m, d, b, now)}; {_latency(m, d, b, now)}; {_quality(m, d, b, now)}"


WHY: Mapping[str, Why] = {
    "weighted": _weight,
    "round-robin": lambda m, d, b, now: "next in rotation",
    "least-busy": _busy,
    "lowest-latency": _latency,
    "lowest-cost": _cost,
    "quality": _quality,
    "health-weighted": _health,
    "balanced": _balanced,
}


def deployment_view(dep: Deployment, st: DeploymentState, now: float) -> dict[str, Any]:
    """Health, latency, cost and breaker state of one deployment."""
    h, br = st.health, st.breaker
    ok, fail = h.window(now)
    return {
        "deployment": dep.id,
        "model": dep.model_name,
        "provider": dep.provider.name,
        "upstream_model": dep.upstream_model,
        "locality": dep.provider.locality,
        "health": {
            "score": h.score(now, br),
            "success_rate": round(ok / (ok + fail), 4) if ok + fail else None,
            "window_requests": ok + fail,
            "latency_ms": round(h.ewma_ms, 1) if h.ewma_ms is not None else None,
            "inflight": h.inflight,
            "errors": dict(h.errors),
            "last_error": h.last_error,
            "rate_limited_for_s": round(max(h.cool_until - now, 0.0), 1),
            "probe": None
            if h.probe_ok is None
            else {"ok": h.probe_ok, "detail": h.probe_detail, "latency_ms": round(h.probe_ms or 0, 1)},
        },
        "breaker": {
            "state": br.name,
            "enabled": dep.breaker.enabled,
            "consecutive_failures": br.failures,
            "open_for_s": round(br.remaining(now), 1),
            "trips": br.trips,
        },
        "cost": {"input_per_mtok": dep.input_price, "output_per_mtok": dep.output_price},
        "quality": dep.quality,
        "context_window": dep.context_window,
        "weight": dep.weight,
    }


def explain(plan: Plan, board: Board, config: CompiledConfig, now: float) -> dict[str, Any]:
    """The ordered candidates of ``plan``, each with its state and why it is there, and the skipped."""
    candidates = []
    for i, dep in enumerate(plan.candidates):
        model = config.models.get(dep.model_name, plan.model)
        view = deployment_view(dep, board.state(dep), now)
        strategy_of = plan.model if plan.model.router else model
        why = WHY.get(strategy_of.strategy, _weight)(strategy_of, dep, board, now)
        context_only = i >= plan.context_from
        view.update(
            {
                "rank": i + 1,
                "role": plan.role(i) + (" (only after a context-length error)" if context_only else ""),
                "why": ("chosen: " if i == 0 else "then: ") + why,
            }
        )
        candidates.append(view)
    skipped = [{**deployment_view(d, board.state(d), now), "skipped": why} for d, why in plan.skipped]
    m = plan.model
    return {
        "model": m.name,
        "kind": "router" if m.router else "split" if m.split else "model",
        "strategy": m.strategy,
        "split_arm": plan.arm,
        "chain": plan.chain,
        "estimated_tokens": plan.tokens,
        "candidates": candidates,
        "skipped": skipped,
        "retry": m.retry.model_dump(),
        "breaker": m.breaker.model_dump(),
    }


def providers_view(config: CompiledConfig, board: Board, now: float, shared: str) -> dict[str, Any]:
    """Every configured deployment's health, grouped by provider (``GET /health/providers``)."""
    providers: dict[str, dict[str, Any]] = {}
    for name, p in config.providers.items():
        providers[name] = {
            "kind": p.kind,
            "locality": p.locality,
            "active_probes": p.probe_enabled,
            "deployments": [],
        }
    for model in config.models.values():
        for dep in model.deployments:
            if dep.model_name == model.name:
                view = deployment_view(dep, board.state(dep), now)
                providers[dep.provider.name]["deployments"].append(view)
    for entry in providers.values():
        scores = [d["health"]["score"] for d in entry["deployments"]]
        entry["score"] = min(scores) if scores else None
    return {"breakers": shared, "providers": providers}

"""Simulation: the whole decision path of a request without calling an upstream.

Runs the trust stage (classification, findings, redaction, the external decision endpoint, the
candidate veto), plans the route with every candidate filter and the live health state, estimates the
cost, and builds the receipt that would be written. Admission (rate limits, budgets) is not run, so a
simulation consumes no quota, and nothing is written. Used by ``POST /v1/simulate`` and
``adaptive-llm-gateway simulate``.
"""

from __future__ import annotations

import time
from typing import Any

from adaptive_gateway.errors import GatewayError, PolicyBlocked
from adaptive_gateway.formats.tokens import estimate_request_tokens
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.routing.explain import explain
from adaptive_gateway.server.trust_receipts import PLAN_NOTE, build_receipt
from adaptive_gateway.server.trust_runtime import TrustRuntime
from adaptive_gateway.trust.decision import TRUST_NOTE, TrustDecision
from adaptive_gateway.trust.stage import TrustStage


def _cost(ctx: RequestContext, candidates: list[Any]) -> dict[str, Any]:
    req = ctx.request
    assert req is not None
    tokens_in = estimate_request_tokens(req)
    tokens_out = req.max_tokens or ctx.config.source.limits.default_output_tokens
    per = [
        {"deployment": d.id, "usd": round(d.cost(tokens_in, tokens_out), 8), "priced": d.unit_price > 0}
        for d in candidates
    ]
    return {
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "output_tokens_from": "max_tokens" if req.max_tokens else "limits.default_output_tokens",
        "usd": per[0]["usd"] if per else 0.0,
        "per_candidate": per,
    }


async def simulate(
    gw: Gateway, runtime: TrustRuntime, stage: TrustStage, ctx: RequestContext
) -> dict[str, Any]:
    """What the gateway would do with ``ctx.request`` (already decoded, caller authenticated)."""
    req = ctx.request
    assert req is not None
    model = gw.resolve_model(ctx, req.model)
    blocked: GatewayError | None = None
    try:
        await stage(ctx)
    except PolicyBlocked as err:  # the answer of the simulation; bad input is still an error
        blocked = err
    decision = ctx.notes.get(TRUST_NOTE)
    decision = decision if isinstance(decision, TrustDecision) else None
    route = None
    candidates: list[Any] = []
    if blocked is None:
        filters = [f for make in gw.filters if (f := make(ctx)) is not None]
        router = gw.executor.router
        key = ctx.principal.id if ctx.principal else None
        plan = router.plan(ctx.config, model, filters, req, ctx.headers, key)
        ctx.notes[PLAN_NOTE] = plan
        route = explain(plan, router.board, ctx.config, router.clock())
        candidates = list(plan.candidates)
        ctx.deployment = candidates[0] if candidates else None
    ctx.status, ctx.error = (blocked.status, blocked.message) if blocked else (200, None)
    settings = runtime.settings_for(ctx.config)
    receipt = build_receipt(ctx, settings, latency_ms=ctx.elapsed_ms(), ended_at=time.time(), simulated=True)
    receipt["id"] = None  # a simulation writes nothing
    redacted = None
    if decision is not None and decision.redaction is not None:
        redacted = [{"role": m.role, "text": m.text()} for m in req.messages]
    return {
        "object": "simulation",
        "model": req.model,
        "trust": decision.summary() if decision is not None else None,
        "blocked": {"status": blocked.status, "code": blocked.code, "message": blocked.message}
        if blocked
        else None,
        "redacted_messages": redacted,
        "route": route,
        "chosen": candidates[0].id if candidates else None,
        "cost_estimate": _cost(ctx, candidates),
        "receipt": receipt,
    }

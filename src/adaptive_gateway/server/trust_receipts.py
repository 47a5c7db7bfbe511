"""Building context receipts and run records from a finished request context.

Called by the finisher once the response went out (the JSON is then queued for the write-behind
worker, ``ledger/writer.py``), and by ``/v1/simulate``, which shows the receipt a request would get.
A receipt says what the request's trust level was and why, what the detectors found (types and
counts), what was used, blocked and redacted, the route candidates and the chosen one with the
reason, provider, tokens, cost, latency and a SHA-256 per message; message text only with
``trust.receipts.record_content`` and only up to ``trust.receipts.max_content_level``.
"""

from __future__ import annotations

from typing import Any

import orjson

from adaptive_gateway.formats import openai_chat
from adaptive_gateway.ledger.receipts import utc_stamp
from adaptive_gateway.numbers import fround
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import REPLAY_NOTE
from adaptive_gateway.routing.plan import Plan
from adaptive_gateway.trust.decision import TRUST_NOTE, TrustDecision
from adaptive_gateway.trust.levels import TrustLevel
from adaptive_gateway.trust.memo import DIGESTS_NOTE, content_hash
from adaptive_gateway.trust.restore import StreamCapture
from adaptive_gateway.trust.settings import TrustSettings
from adaptive_gateway.types import ChatResponse

RECEIPT_NOTE = "trust.receipt_id"
PLAN_NOTE = "trust.plan"
RESPONSE_NOTE = "trust.response"
CAPTURE_NOTE = "trust.capture"
MAX_ERROR = 500


def _outcome(ctx: RequestContext, decision: TrustDecision | None, simulated: bool) -> str:
    if simulated:
        return "simulated"
    if ctx.status < 400:
        return "success"
    verdict = decision.verdict if decision is not None else None
    if ctx.status == 403 and verdict is not None and verdict.kind == "block":
        return "blocked"
    return "cancelled" if ctx.status == 499 else "failed"


def route_section(plan: Plan | None, ctx: RequestContext) -> dict[str, Any] | None:
    """Candidates in order with their roles, the skipped ones with why, and the chosen one."""
    if plan is None:
        return None
    candidates = [
        {
            "deployment": d.id,
            "provider": d.provider.name,
            "locality": d.provider.locality,
            "role": plan.role(i),
        }
        for i, d in enumerate(plan.candidates)
    ]
    chosen = None
    dep = ctx.deployment
    if dep is not None:
        index = next((i for i, d in enumerate(plan.candidates) if d.id == dep.id), None)
        reason = plan.role(index) if index is not None else "chosen outside the plan"
        if index and ctx.attempts:
            reason += f" (after {len(ctx.attempts)} failed attempt(s))"
        chosen = {"deployment": dep.id, "reason": reason}
    return {
        "model": plan.model.name,
        "strategy": plan.strategy,
        "arm": plan.arm,
        "candidates": candidates,
        "skipped": [{"deployment": d.id, "reason": why} for d, why in plan.skipped],
        "chosen": chosen,
    }


def content_section(
    ctx: RequestContext, decision: TrustDecision | None, settings: TrustSettings
) -> dict[str, Any]:
    req = ctx.request
    if req is None:
        return {"hashes": []}
    texts = [(m.role, m.text()) for m in req.messages]
    seen = ctx.notes.get(DIGESTS_NOTE)
    hashes = [{"role": role, "sha256": content_hash(text, seen), "chars": len(text)} for role, text in texts]
    redacted = decision is not None and decision.redaction is not None
    out: dict[str, Any] = {
        "hashes": hashes,
        "of": "text sent upstream (after redaction)" if redacted else "text",
    }
    opts = settings.receipts
    if (
        opts.record_content
        and decision is not None
        and decision.level <= TrustLevel.parse(opts.max_content_level)
    ):
        out["messages"] = [{"role": role, "text": text} for role, text in texts]
    return out


def _classified(
    ctx: RequestContext, decision: TrustDecision | None, settings: TrustSettings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The receipt's trust and content sections; a recalled repeat reuses its original's (the same
    request and decision objects, so the same sections: see cache/recall.py)."""
    derived: dict[str, Any] | None = getattr(ctx.notes.get(REPLAY_NOTE), "derived", None)
    if derived is not None:
        kept = derived.get("receipt")
        if kept is not None and kept[0] is settings:
            return kept[1], kept[2]
    trust = decision.summary() if decision is not None else {"level": None, "reasons": ["not classified"]}
    content = content_section(ctx, decision, settings)
    if derived is not None:
        derived["receipt"] = (settings, trust, content)
    return trust, content


def build_receipt(
    ctx: RequestContext,
    settings: TrustSettings,
    *,
    latency_ms: float,
    ended_at: float,
    simulated: bool = False,
) -> dict[str, Any]:
    """The receipt of ``ctx`` (never holds a detected value)."""
    decision = ctx.notes.get(TRUST_NOTE)
    decision = decision if isinstance(decision, TrustDecision) else None
    plan = ctx.notes.get(PLAN_NOTE)
    req, dep, p, usage = ctx.request, ctx.deployment, ctx.principal, ctx.usage
    trust, content = _classified(ctx, decision, settings)
    blocked = [{"deployment": d, "reason": why} for d, why in (decision.vetoed if decision else [])]
    return {
        "id": ctx.notes.get(RECEIPT_NOTE),
        "ts": utc_stamp(int(ended_at), "%Y-%m-%dT%H:%M:%SZ"),
        "request_id": ctx.request_id,
        "route": ctx.route,
        "status": ctx.status,
        "outcome": _outcome(ctx, decision, simulated),
        "error": ctx.error[:MAX_ERROR] if ctx.error else None,
        "principal": {"id": p.id, "kind": p.kind, "key": p.key_prefix, "tenant": p.tenant} if p else None,
        "model": req.model if req is not None else None,
        "stream": bool(req.stream) if req is not None else False,
        "trust": trust,
        "used": {
            "provider": dep.provider.name,
            "locality": dep.provider.locality,
            "deployment": dep.id,
            "upstream_model": dep.upstream_model,
            "sources": sorted(decision.sources) if decision else [],
        }
        if dep is not None
        else None,
        "blocked": blocked,
        "redacted": dict(decision.redaction.counts) if decision and decision.redaction else {},
        "routing": route_section(plan if isinstance(plan, Plan) else None, ctx),
        "attempts": [
            {"deployment": a.deployment, "error": a.error[:MAX_ERROR], "status": a.status}
            for a in ctx.attempts
        ],
        "fallbacks": ctx.fallbacks,
        # set by the cache stage: on a hit {"served": "served from cache (...)", "age_s", "saved_usd", ...}
        "cache": ctx.notes.get("cache"),
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
        }
        if usage is not None
        else None,
        "cost_usd": fround(ctx.cost, 8),
        "latency_ms": fround(latency_ms, 2),
        "content": content,
        "config_digest": ctx.config.digest,
        "policy_version": settings.version,
    }


# The receipt of a recalled repeat (cache/recall.py) differs from the previous repeat's only in these
# fields, when it succeeded the same way (no error, no deployment, no attempts, no route plan): its JSON
# is then the previous one's bytes with these values put back in (``receipt_json``).
PER_REQUEST = ("id", "ts", "request_id", "cache", "latency_ms")
_MARK = "\ue000agw-receipt-field-{}\ue000"  # a private-use character: never in a receipt's own text


def receipt_json(
    ctx: RequestContext, settings: TrustSettings, *, latency_ms: float, ended_at: float
) -> bytes:
    """``orjson.dumps(build_receipt(...))``, byte for byte; for a recalled repeat from a template kept
    with its recall record (``Recalled.derived``), filled with this request's values."""
    derived: dict[str, Any] | None = getattr(ctx.notes.get(REPLAY_NOTE), "derived", None)
    if (
        derived is None
        or ctx.error is not None
        or ctx.deployment is not None
        or ctx.attempts
        or ctx.fallbacks
        or PLAN_NOTE in ctx.notes
    ):
        return orjson.dumps(build_receipt(ctx, settings, latency_ms=latency_ms, ended_at=ended_at))
    p, usage = ctx.principal, ctx.usage
    # everything else the receipt reads: the same for every repeat of one record
    key = (
        settings,
        ctx.config,
        ctx.route,
        ctx.status,
        (p.id, p.kind, p.key_prefix, p.tenant) if p is not None else None,
        (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens) if usage is not None else None,
        ctx.cost,
    )
    kept = derived.get("receipt_json")
    if kept is None or kept[0] != key:
        kept = derived["receipt_json"] = (key, _template(ctx, settings))
    parts: list[bytes] | None = kept[1]
    if parts is None:  # a value of the request held a marker: built the whole way
        return orjson.dumps(build_receipt(ctx, settings, latency_ms=latency_ms, ended_at=ended_at))
    dumps = orjson.dumps
    return b"".join(  # the PER_REQUEST fields, in order
        (
            parts[0],
            dumps(ctx.notes.get(RECEIPT_NOTE)),
            parts[1],
            dumps(utc_stamp(int(ended_at), "%Y-%m-%dT%H:%M:%SZ")),
            parts[2],
            dumps(ctx.request_id),
            parts[3],
            dumps(ctx.notes.get("cache")),
            parts[4],
            dumps(fround(latency_ms, 2)),
            parts[5],
        )
    )


def _template(ctx: RequestContext, settings: TrustSettings) -> list[bytes] | None:
    """The receipt's JSON cut around the per-request fields, or None when it cannot be cut cleanly."""
    receipt = build_receipt(ctx, settings, latency_ms=0.0, ended_at=0.0)
    marks = [_MARK.format(name) for name in PER_REQUEST]
    receipt.update(zip(PER_REQUEST, marks, strict=True))
    rest = orjson.dumps(receipt)
    parts = []
    for mark in marks:
        quoted = orjson.dumps(mark)
        if rest.count(quoted) != 1:
            return None
        head, _, rest = rest.partition(quoted)
        parts.append(head)
    parts.append(rest)
    return parts


def response_body(ctx: RequestContext) -> dict[str, Any] | None:
    """The answer the client saw, as JSON (an OpenAI chat body, or the upstream's own for passthrough)."""
    resp = ctx.notes.get(RESPONSE_NOTE)
    if isinstance(resp, ChatResponse):
        if resp.choices:
            return openai_chat.encode_response(resp)
        return resp.raw
    capture = ctx.notes.get(CAPTURE_NOTE)
    if isinstance(capture, StreamCapture):
        indexes = sorted(set(capture.text) | {i for i, _ in capture.tool_calls} | set(capture.finish)) or [0]
        return {
            "object": "chat.completion",
            "choices": [
                {"index": i, "message": capture.message(i), "finish_reason": capture.finish.get(i)}
                for i in indexes
            ],
        }
    return None


def run_parts(ctx: RequestContext, receipt: dict[str, Any], decision: TrustDecision) -> dict[str, Any]:
    """The files of a run folder."""
    return {
        "request": decision.run_request or {},
        "response": response_body(ctx),
        "receipt": receipt,
        "run": {
            "id": receipt["id"],
            "ts": receipt["ts"],
            "model": receipt["model"],
            "status": receipt["status"],
            "outcome": receipt["outcome"],
            "config_digest": receipt["config_digest"],
            "policy_version": receipt["policy_version"],
            "trust_level": decision.level.label,
            "route_decision": receipt["routing"],
            "deployment": (receipt["used"] or {}).get("deployment"),
        },
    }

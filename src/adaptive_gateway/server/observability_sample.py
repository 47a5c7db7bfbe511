"""From a finished request's context to the plain :class:`Sample` that metrics, stats and logs record,
and the content a request log line may carry (only when recording is on and the trust level allows).

Everything here reads what the pipeline and the other extensions left on the context: the deployment,
usage and cost, the failed attempts, the upstream timings noted by the observed upstream, the trust
decision (``ctx.notes["trust"]``, read by duck typing so this works with or without the trust extension)
and the receipt id.
"""

from __future__ import annotations

import time
from typing import Any

from adaptive_gateway.observability.clients import ClientNames
from adaptive_gateway.observability.sample import UNKNOWN, Sample
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.types import ChatResponse

UP_NOTE = "obs.upstream"  # [start, first chunk, end] (perf_counter) of the latest upstream attempt
SPAN_NOTE = "obs.span"
TRACE_NOTE = "obs.trace_id"
DEP_NOTE = "obs.deployment"  # the deployment of the attempt being made
STAGE_NOTE = "obs.stage_error"  # (type, code) of an error raised before routing
RESPONSE_NOTE = "obs.response"  # the ChatResponse (when tracing or recording needs it)
TRUST_NOTE = "trust"
RECEIPT_NOTE = "trust.receipt_id"
CACHE_NOTE = "cache"  # the response cache's verdict
LEVELS = ("public", "internal", "confidential", "secret")
MIN_GENERATION_S = 0.001


def _model(ctx: RequestContext) -> str:
    if ctx.deployment is not None:
        return ctx.deployment.model_name
    req = ctx.request
    if req is None:
        return UNKNOWN
    model = ctx.config.resolve(req.model)
    return model.name if model is not None else UNKNOWN


def _trust(ctx: RequestContext) -> tuple[str | None, dict[str, int] | None]:
    decision = ctx.notes.get(TRUST_NOTE)
    if decision is None:
        return None, None
    level = getattr(getattr(decision, "level", None), "label", None)
    counts = getattr(getattr(decision, "redaction", None), "counts", None)
    return (level if isinstance(level, str) else None), (dict(counts) if counts else None)


def _timings(ctx: RequestContext, s: Sample) -> None:
    times = ctx.notes.get(UP_NOTE)
    if not times or not times[2]:
        return
    start, first, end = times
    if s.ok:
        s.upstream_s = end - start
    if s.stream and ctx.first_byte_at is not None:
        s.ttft_s = ctx.first_byte_at - ctx.started
    generation = end - (first or start)
    if s.output_tokens and generation > MIN_GENERATION_S:
        s.tokens_per_s = s.output_tokens / generation


def _failures(ctx: RequestContext, s: Sample) -> None:
    dep = ctx.deployment
    total = len(ctx.attempts) + (1 if dep is not None else 0)
    s.fallbacks = ctx.fallbacks
    s.retries = max(total - ctx.fallbacks - 1, 0)
    s.failed_attempts = [(a.deployment, a.status or 0) for a in ctx.attempts]
    stage = ctx.notes.get(STAGE_NOTE)
    if stage is not None:
        kind, code = stage
        if ctx.status == 429:
            s.rejection = code or kind
        elif kind == "policy_error":
            s.policy_block = code or kind


def sample_of(ctx: RequestContext, clients: ClientNames) -> Sample:
    """The sample of a finished request (cheap: attribute reads and a few branches; the Sample is built
    with positional arguments, in its fields' order: a third of what 31 keywords cost)."""
    dep = ctx.deployment
    p = ctx.principal
    usage = ctx.usage
    req = ctx.request
    notes = ctx.notes
    level: str | None = None
    redactions: dict[str, int] | None = None
    verdict: str | None = None
    if notes:
        level, redactions = _trust(ctx)
        cache = notes.get(CACHE_NOTE)
        if isinstance(cache, dict) and isinstance(cache.get("status"), str):
            verdict = cache["status"]
    s = Sample(
        ctx.route,  # route
        _model(ctx),  # model
        dep.id if dep is not None else "",  # deployment
        dep.provider.name if dep is not None else "",  # provider
        ctx.status,  # status
        (ctx.ended or time.perf_counter()) - ctx.started,  # latency_s
        p.id if p is not None else "",  # key
        p.key_prefix if p is not None else "",  # key_prefix
        (p.tenant or "") if p is not None else "",  # tenant
        clients.name(ctx.headers.get("user-agent")),  # client
        req.stream if req is not None else False,  # stream
        None,  # upstream_s (_timings)
        None,  # ttft_s
        None,  # tokens_per_s
        usage.input_tokens if usage is not None else 0,  # input_tokens
        usage.output_tokens if usage is not None else 0,  # output_tokens
        ctx.cost,  # cost
        0,  # retries (_failures)
        0,  # fallbacks
        [],  # failed_attempts
        None,  # rejection
        None,  # policy_block
        redactions,  # redactions
        level,  # trust_level
        verdict,  # cache
        notes.get(TRACE_NOTE),  # trace_id
        ctx.request_id,  # request_id
        notes.get(RECEIPT_NOTE),  # receipt_id
        ctx.error[:300] if ctx.error else None,  # error
        time.time(),  # ts
    )
    if notes:
        _timings(ctx, s)
    if ctx.attempts or ctx.fallbacks or ctx.status >= 400:
        _failures(ctx, s)
    return s


def recorded_content(ctx: RequestContext, level: str | None) -> dict[str, Any] | None:
    """Prompt and answer text for the log line, when ``observability.logs.record_content`` is on and the
    request's trust level (unknown counts as the highest) is at or below ``record_max_level``."""
    cfg = ctx.config.source.observability.logs
    if not cfg.record_content or ctx.request is None:
        return None
    if LEVELS.index(level or "secret") > LEVELS.index(cfg.record_max_level):
        return {"withheld": f"trust level {level or 'unknown'} is above {cfg.record_max_level}"}
    limit = cfg.record_max_chars
    messages = [{"role": m.role, "text": m.text()[:limit]} for m in ctx.request.messages]
    out: dict[str, Any] = {"messages": messages}
    resp = ctx.notes.get(RESPONSE_NOTE)
    if isinstance(resp, ChatResponse):
        out["answer"] = response_view(resp)[2][:limit]
    return out


def response_view(resp: ChatResponse) -> tuple[str, list[str], str]:
    """(model, finish reasons, answer text) of a response, decoded or passed through raw."""
    if resp.choices:
        reasons: list[str] = [c.finish_reason for c in resp.choices if c.finish_reason]
        return resp.model, reasons, "".join(c.message.text() for c in resp.choices)
    raw = resp.raw or {}
    choices = raw.get("choices")
    raw_reasons: list[str] = []
    texts: list[str] = []
    for c in choices if isinstance(choices, list) else []:
        if isinstance(c, dict):
            if c.get("finish_reason"):
                raw_reasons.append(str(c["finish_reason"]))
            msg = c.get("message")
            content = msg.get("content") if isinstance(msg, dict) else None
            texts.append(content if isinstance(content, str) else "")
    return str(raw.get("model") or resp.model), raw_reasons, "".join(texts)

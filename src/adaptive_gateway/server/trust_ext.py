"""The trust extension: trust levels, policy, redaction, consent, receipts, runs and simulation.

Installs (first of all extensions, so a blocked request consumes no quota):

* the trust stage (``trust/stage.py``) at the head of the stages, and its candidate filter, which
  the planner applies to every candidate and fallback;
* a receipt id per authenticated request (``x-adaptive-receipt`` response header) and a finisher
  that queues the receipt (and, when recording, the run folder) for the write-behind worker;
* wrappers that keep the route plan for the receipt, restore redaction placeholders in answers
  (non-streamed: in the response; streamed: a restoring stream parser, which also turns a same-format
  byte passthrough into decode and re-render) and guard the forwarded endpoints (embeddings,
  completions), which do not go through the planner;
* ``GET /api/receipts``, ``GET /api/receipts/{id}`` and ``POST /v1/simulate`` (``server/trust_http.py``);
* the consent ledger poller and the writer as startup / shutdown hooks; a readiness check that
  reports the ledger's integrity;
* at startup, when the MCP extension is installed, its memory service reports the items it hands
  to clients and looks up an item's level for the stage (``trust/memory_sources.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from adaptive_gateway.config import gateway_home
from adaptive_gateway.ledger.receipts import ReceiptIds
from adaptive_gateway.pipeline.context import Answered, RequestContext
from adaptive_gateway.pipeline.execute import OpenStream
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.routing.plan import Plan
from adaptive_gateway.server import trust_http
from adaptive_gateway.server.trust_receipts import CAPTURE_NOTE, PLAN_NOTE, RECEIPT_NOTE, RESPONSE_NOTE
from adaptive_gateway.server.trust_runtime import TrustRuntime
from adaptive_gateway.trust.decision import TRUST_NOTE, TrustDecision
from adaptive_gateway.trust.restore import RestoringAdapter, StreamCapture, restore_response
from adaptive_gateway.trust.stage import TrustStage
from adaptive_gateway.types import ChatResponse

if TYPE_CHECKING:
    from adaptive_gateway.server.app import GatewayApp

RECEIPT_HEADER = b"x-adaptive-receipt"
# authenticated routes that are not model traffic get no receipt
NO_RECEIPT = frozenset(
    {
        "/v1/models",
        "/v1beta/models",
        "/health/providers",
        "/health/ready",
        "/v1/route/preview",
        "/v1/simulate",
        "/mcp",
    }
)
FORWARD_FIELDS = ("input", "prompt")


def ensure_receipt_id(ctx: RequestContext, ids: ReceiptIds) -> None:
    if RECEIPT_NOTE not in ctx.notes and ctx.route not in NO_RECEIPT and not ctx.route.startswith("/api/"):
        rid = ids.next()
        ctx.notes[RECEIPT_NOTE] = rid
        ctx.extra_headers.append((RECEIPT_HEADER, rid.encode()))


def _decision(ctx: RequestContext) -> TrustDecision | None:
    decision = ctx.notes.get(TRUST_NOTE)
    return decision if isinstance(decision, TrustDecision) else None


def _wrap_authenticate(gw: Gateway, ids: ReceiptIds) -> None:
    authenticate = gw.authenticate

    def authenticated(ctx: RequestContext, query_key: str | None = None) -> None:
        authenticate(ctx, query_key)
        ensure_receipt_id(ctx, ids)

    gw.authenticate = authenticated  # type: ignore[method-assign]


def _wrap_plan(gw: Gateway, ids: ReceiptIds) -> None:
    plan = gw.plan

    async def planned(ctx: RequestContext) -> Plan | None:
        ensure_receipt_id(ctx, ids)  # contexts made without authenticate (MCP tools) get one here
        result = await plan(ctx)
        if result is not None:  # None: a stage answered (a cache hit), nothing was routed
            ctx.notes[PLAN_NOTE] = result
        return result

    gw.plan = planned  # type: ignore[method-assign]


def _wrap_complete(gw: Gateway) -> None:
    complete = gw.complete

    async def completed(ctx: RequestContext) -> ChatResponse:
        resp = await complete(ctx)
        decision = _decision(ctx)
        if decision is not None:
            restore_response(resp, decision.mapping)
            if decision.record_runs:
                ctx.notes[RESPONSE_NOTE] = resp
        return resp

    gw.complete = completed  # type: ignore[method-assign]


def _wrap_open_stream(gw: Gateway) -> None:
    open_stream = gw.open_stream

    async def opened(ctx: RequestContext) -> OpenStream | Answered:
        stream = await open_stream(ctx)
        if isinstance(stream, Answered):
            return stream
        decision = _decision(ctx)
        if decision is None or not (decision.mapping or decision.record_runs):
            return stream
        capture = StreamCapture() if decision.record_runs else None
        if capture is not None:
            ctx.notes[CAPTURE_NOTE] = capture
        adapter = RestoringAdapter(stream.adapter, decision.mapping, capture)
        return dataclasses.replace(stream, adapter=adapter)

    gw.open_stream = opened  # type: ignore[method-assign]


Forward = Callable[[RequestContext, str, dict[str, Any], bool], Awaitable[Any]]


def forward_texts(body: dict[str, Any]) -> list[str]:
    """The strings of a forwarded body's ``input`` / ``prompt`` (token arrays carry no text)."""
    texts: list[str] = []
    for name in FORWARD_FIELDS:
        value = body.get(name)
        items = value if isinstance(value, list) else [value]
        texts.extend(item for item in items if isinstance(item, str) and item)
    return texts


def _wrap_forward(gw: Gateway, stage: TrustStage, ids: ReceiptIds) -> None:
    forward: Forward = gw.forward_openai

    async def guarded(ctx: RequestContext, path: str, body: dict[str, Any], stream: bool) -> Any:
        ensure_receipt_id(ctx, ids)
        model = ctx.config.resolve(str(body.get("model")))
        dep = (
            next((d for d in model.deployments if d.provider.adapter in ("openai", "embedded")), None)
            if model
            else None
        )
        await stage.memory_sources(ctx)
        stage.guard_forward(ctx, forward_texts(body), dep)
        return await forward(ctx, path, body, stream)

    gw.forward_openai = guarded  # type: ignore[method-assign]


def install(app: GatewayApp) -> None:
    gw = app.gateway
    runtime = TrustRuntime(gateway_home(), lambda: gw.config)
    stage = TrustStage(runtime.settings_for, runtime.consents, runtime.decider, memory=runtime.memory_reads)
    gw.stages.insert(0, stage)
    gw.filters.append(stage.candidate_filter)
    gw.finishers.append(runtime.finish)
    ids = ReceiptIds()
    _wrap_authenticate(gw, ids)
    _wrap_plan(gw, ids)
    _wrap_complete(gw)
    _wrap_open_stream(gw)
    _wrap_forward(gw, stage, ids)
    app.extras["trust"] = runtime
    app.extras["trust.stage"] = stage
    trust_http.install_routes(app, runtime, stage)

    async def ledger_ready() -> tuple[str, bool, str]:
        snap = runtime.consents()
        if snap.ok:
            return "consent_ledger", True, f"{snap.entries} entries, {len(snap.granted)} granted scopes"
        # local traffic still flows; hosted providers are refused with this reason until it is repaired
        return (
            "consent_ledger",
            True,
            "FAILED verification, hosted providers refused: " + "; ".join(snap.problems[:3]),
        )

    gw.readiness.append(ledger_ready)
    app.on_startup.append(runtime.start)
    app.on_startup.append(lambda: _connect_memory(app, runtime))
    app.on_shutdown.append(runtime.stop)


async def _connect_memory(app: GatewayApp, runtime: TrustRuntime) -> None:
    """Let the MCP extension's memory service (built at its install, before any startup hook) report
    the items it hands out and look up item levels. Without that extension, memory reads do not count
    and ``x-context-sources: memory:<id>`` needs an explicit level."""
    from adaptive_gateway.server.mcp_ext import runtime_of  # installed after this extension

    mcp = runtime_of(app)
    if mcp is not None:
        memory = mcp.reflector.memory
        memory.on_handout.append(runtime.memory_reads.handed_out)
        runtime.memory_reads.lookup = memory.level_of

"""The Gateway: everything a request needs, hung off one object (no module-level state), and the
pipeline composed in one place: authenticate -> [stages] -> route -> execute -> [finishers].
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from adaptive_gateway.config import CompiledConfig, Model
from adaptive_gateway.errors import ModelNotFound, PermissionDenied
from adaptive_gateway.numbers import fround
from adaptive_gateway.observability.requestlog import RequestLog
from adaptive_gateway.pipeline import structured
from adaptive_gateway.pipeline.auth import Authenticator
from adaptive_gateway.pipeline.context import Answered, RequestContext
from adaptive_gateway.pipeline.execute import BaseUrlResolver, Executor, OpenStream
from adaptive_gateway.pipeline.forward import forward
from adaptive_gateway.pipeline.media import MediaFetcher
from adaptive_gateway.providers.base import Adapter
from adaptive_gateway.providers.registry import build_registry
from adaptive_gateway.providers.upstream import Upstream, UpstreamResponse, UpstreamStream
from adaptive_gateway.routing.plan import CandidateFilter, Plan, Strategy, WeightedRandom
from adaptive_gateway.types import ChatResponse
from adaptive_gateway.wire.base import Wire

log = logging.getLogger("adaptive_gateway")


class Stage(Protocol):
    """A pipeline step before routing; raises a GatewayError to stop the request, or answers it itself
    by setting ``ctx.answer``. A call returns None when the stage is done, or an awaitable to wait for
    (an ``async def`` stage always returns one): most stages decide most requests without waiting, and
    then cost no coroutine.

    A stage may also offer ``replay_stamp`` / ``replay_notes`` (``cache/recall.py``): it is then
    skipped for a recalled repeat, whose notes hold its result. Every other stage runs again for a
    recalled request and must not change ``ctx.request`` (the recalled object is shared)."""

    def __call__(self, ctx: RequestContext) -> Awaitable[None] | None: ...


Finisher = Callable[[RequestContext], None]
ReadinessCheck = Callable[[], Awaitable[tuple[str, bool, str]]]


# set on a request recalled as a byte-identical repeat (cache/recall.py): its notes hold what the
# replayable stages (those with ``replay_stamp``) decided for the original, so they are skipped
REPLAY_NOTE = "replayed"
# before decoding: (ctx, the client's wire format, raw body, path params) -> True when ctx.request and
# notes were recalled
Recall = Callable[[RequestContext, Wire, bytes, Mapping[str, str]], bool]


class Gateway:
    def __init__(self, config: CompiledConfig, *, resolve_base: BaseUrlResolver | None = None) -> None:
        self.config = config
        self.upstream = Upstream()
        self.adapters: dict[str, Adapter] = build_registry()
        self.media = MediaFetcher()  # image URLs inlined for adapters that need it; session made on first use
        self.executor = Executor(self.upstream, self.adapters, resolve_base, self.media)
        self.auth = Authenticator()
        self.strategies: dict[str, Strategy] = {"weighted": WeightedRandom()}
        self.rng = random.Random()
        self.stages: list[Stage] = []
        self.filters: list[Callable[[RequestContext], CandidateFilter | None]] = []
        self.finishers: list[Finisher] = []
        self.readiness: list[ReadinessCheck] = []
        self.log = RequestLog(config.source.server.request_log_file, config.source.server.request_log)
        self.finishers.append(self._log_request)
        self.recall: Recall | None = None  # the response cache's repeat memo, when installed
        self.inflight = 0
        self._finished: list[RequestContext] = []  # answered, finishers not yet run (see finish)
        # are other requests being answered? The HTTP server says (server/runner.py: its request
        # tasks; a cache hit runs start to end without waiting, so ``inflight`` alone would never tell)
        self.busy: Callable[[], bool] = lambda: self.inflight > 0

    # ---- lifecycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.log.start()

    async def close(self) -> None:
        self.run_finishers()
        await self.upstream.close()
        await self.media.close()
        await self.log.stop()

    def swap_config(self, config: CompiledConfig) -> None:
        """Atomically replace the config; in-flight requests keep the one they started with."""
        self.config = config

    # ---- pipeline ---------------------------------------------------------------------------------------

    def authenticate(self, ctx: RequestContext, query_key: str | None = None) -> None:
        ctx.principal, ctx.provider_key = self.auth.authenticate(ctx.config, ctx.headers, query_key)

    def resolve_model(self, ctx: RequestContext, name: str) -> Model:
        model = ctx.config.resolve(name)
        if model is None:
            available = ", ".join(ctx.config.public_names()) or "none configured"
            raise ModelNotFound(f"model '{name}' not found; available models: {available}", param="model")
        allowed = ctx.principal.allowed_models if ctx.principal else None
        if allowed is not None and name not in allowed and model.name not in allowed:
            raise PermissionDenied(
                f"this key may not use model '{name}'; allowed: {', '.join(sorted(allowed))}", param="model"
            )
        return model

    async def plan(self, ctx: RequestContext) -> Plan | None:
        """Run the stages, then plan the route; None when a stage answered the request itself
        (``ctx.answer``: a cache hit), which is then neither routed nor executed."""
        assert ctx.request is not None
        model = self.resolve_model(ctx, ctx.request.model)
        replayed = REPLAY_NOTE in ctx.notes
        for stage in self.stages:
            if replayed and hasattr(stage, "replay_stamp"):
                continue  # its notes were restored with the request
            pending = stage(ctx)
            if pending is not None:
                await pending
            if ctx.answer is not None:
                return None
        filters = [f for make in self.filters if (f := make(ctx)) is not None]
        key = ctx.principal.id if ctx.principal else None  # sticky traffic splits
        return self.executor.router.plan(ctx.config, model, filters, ctx.request, ctx.headers, key)

    async def complete(self, ctx: RequestContext) -> ChatResponse:
        plan = await self.plan(ctx)
        if plan is None:
            return _answer(ctx).response
        resp = await structured.complete(self.executor, ctx, plan)
        ctx.settle(resp.usage)
        return resp

    async def open_stream(self, ctx: RequestContext) -> OpenStream | Answered:
        """The committed upstream stream, or the stage's own answer (replayed as a stream by the server)."""
        plan = await self.plan(ctx)
        if plan is None:
            return _answer(ctx)
        return await self.executor.open_stream(ctx, plan)

    async def forward_openai(
        self, ctx: RequestContext, path: str, body: dict[str, Any], stream: bool
    ) -> UpstreamResponse | UpstreamStream:
        """Non-chat OpenAI endpoints (completions, embeddings), with failover: see pipeline/forward.py."""
        model = self.resolve_model(ctx, body["model"])
        await self.run_stages(ctx)
        return await forward(self, ctx, model, path, body, stream)

    async def run_stages(self, ctx: RequestContext) -> None:
        """Every stage in order, for the routes that are neither recalled nor answered by a stage
        (completions, embeddings)."""
        for stage in self.stages:
            pending = stage(ctx)
            if pending is not None:
                await pending

    def finish(self, ctx: RequestContext) -> None:
        """Run the finishers for a request whose response went out. While other requests are being
        answered (``busy``), the finishers of the requests answered in one event-loop iteration run
        together at its end, each finisher over all of them in turn: its code and data then stay in the
        CPU caches instead of being evicted by the next request's path (-12 % CPU per cache hit under
        load, docs/benchmarks.md). With no other request they run right away, so a caller that waits
        for its request finds its evidence (receipt, usage row, metrics) queued. Latencies are those
        at this call (``ctx.ended``), not when the finishers run."""
        ctx.ended = time.perf_counter()
        self._finished.append(ctx)
        if not self.busy():
            self.run_finishers()
        elif len(self._finished) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.run_finishers)
            except RuntimeError:  # no loop (a synchronous caller)
                self.run_finishers()

    def run_finishers(self) -> None:
        """Run the finishers of every request finished so far (also at shutdown). One finisher failing
        (a bug) is logged and does not keep the others from running."""
        batch, self._finished = self._finished, []
        finishers = self.finishers
        for fin in finishers:  # each request still sees the finishers in their order
            for ctx in batch:
                try:
                    fin(ctx)
                except Exception:
                    log.exception("finisher %r failed for request %s", fin, ctx.request_id)

    def _log_request(self, ctx: RequestContext) -> None:
        dep = ctx.deployment
        usage = ctx.usage
        p = ctx.principal
        self.log.write(
            {
                "request_id": ctx.request_id,
                "route": ctx.route,
                "status": ctx.status,
                "latency_ms": fround(ctx.elapsed_ms(), 2),
                "key": p.key_prefix if p else None,
                "tenant": p.tenant if p else None,
                "model": ctx.request.model if ctx.request else None,
                "deployment": dep.id if dep else None,
                "provider": dep.provider.name if dep else None,
                "attempts": len(ctx.attempts) + (1 if ctx.status < 400 and dep else 0),
                "input_tokens": usage.input_tokens if usage else 0,
                "output_tokens": usage.output_tokens if usage else 0,
                "cost_usd": fround(ctx.cost, 8),
                "cache": ctx.notes.get("cache"),
                "error": ctx.error,
            }
        )


def _answer(ctx: RequestContext) -> Answered:
    """The answer a stage left (``Gateway.plan`` returned None)."""
    assert ctx.answer is not None
    return ctx.answer

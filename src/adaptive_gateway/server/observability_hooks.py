"""Where observability meets the request path, without touching the core: thin wrappers installed by the
observability extension.

* ``gw.plan`` / ``gw.forward_openai``: mark the request as the current one of its task (a ContextVar held
  by :class:`Hooks`, so the upstream wrapper finds it), start its span, add ``x-adaptive-trace-id``, and
  note the type / code of an error raised before routing (rate limit, budget, policy).
* the upstream executor (:class:`ObservedUpstream`): times every attempt (start, first chunk, end), sets
  ``ctx.first_byte_at``, opens a CLIENT span per attempt and injects ``traceparent`` upstream. With
  tracing off, a client's own ``traceparent`` is forwarded unchanged.
* ``router.gate`` (tracing only): which deployment the attempt is for, to name its span.
* ``gw.complete`` (tracing or content recording only): keeps the response for finish reasons and text.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import Span

from adaptive_gateway.config import Deployment, Provider
from adaptive_gateway.errors import GatewayError
from adaptive_gateway.observability.tracing import (
    Tracing,
    genai_system,
    incoming_trace_id,
    trace_id_hex,
    wall_ns,
)
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.providers.base import UpstreamRequest
from adaptive_gateway.providers.upstream import Upstream, UpstreamResponse, UpstreamStream
from adaptive_gateway.routing.health import DeploymentState
from adaptive_gateway.routing.plan import Plan
from adaptive_gateway.server.observability_sample import (
    DEP_NOTE,
    RESPONSE_NOTE,
    SPAN_NOTE,
    STAGE_NOTE,
    TRACE_NOTE,
    UP_NOTE,
)
from adaptive_gateway.types import ChatResponse

TRACE_HEADER = b"x-adaptive-trace-id"
PROPAGATED = ("traceparent", "tracestate")


class Hooks:
    """The request of the running task, and what to do when it starts and when it goes upstream."""

    def __init__(self, tracing: Tracing | None) -> None:
        self.tracing = tracing
        self.current: ContextVar[RequestContext | None] = ContextVar("agw_observed_request", default=None)

    def enter(self, ctx: RequestContext) -> None:
        """The request is about to be routed: make it current, start its span, name its trace."""
        self.current.set(ctx)
        if TRACE_NOTE in ctx.notes:
            return
        tracing = self.tracing
        if tracing is not None:
            model = ctx.request.model if ctx.request is not None else "unknown"
            p = ctx.principal
            attrs = {"adaptive_gateway.request_id": ctx.request_id, "adaptive_gateway.route": ctx.route}
            if p is not None:
                attrs["adaptive_gateway.key_prefix"] = p.key_prefix
            span = tracing.start_request(ctx.headers, wall_ns(ctx.started), ctx.route, model, attrs)
            ctx.notes[SPAN_NOTE] = span
            tid: str | None = trace_id_hex(span)
        else:
            tid = incoming_trace_id(ctx.headers.get("traceparent"))
        if tid:
            ctx.notes[TRACE_NOTE] = tid
            ctx.extra_headers.append((TRACE_HEADER, tid.encode()))

    def attempt(self, ctx: RequestContext, provider: Provider, req: UpstreamRequest) -> Span | None:
        """Open the attempt's span and write the trace context into the upstream request's headers."""
        tracing = self.tracing
        parent = ctx.notes.get(SPAN_NOTE)
        if tracing is None or parent is None:
            incoming = {h: ctx.headers[h] for h in PROPAGATED if h in ctx.headers}
            if incoming:
                req.headers = {**req.headers, **incoming}
            return None
        dep = ctx.notes.get(DEP_NOTE)
        model = dep.upstream_model if isinstance(dep, Deployment) else "unknown"
        url = urlsplit(req.url)
        attrs: dict[str, Any] = {
            "server.address": url.hostname or "",
            "adaptive_gateway.provider": provider.name,
        }
        if url.port:
            attrs["server.port"] = url.port
        if isinstance(dep, Deployment):
            attrs["adaptive_gateway.deployment"] = dep.id
        span = tracing.start_attempt(parent, ctx.route, genai_system(provider.kind), model, attrs)
        headers = dict(req.headers)
        tracing.inject(span, headers)
        req.headers = headers
        return span

    def attempt_done(self, span: Span | None, status: int, error: str | None) -> None:
        if span is not None:
            Tracing.finish(span, status, error, {})

    # ---- the wrappers ------------------------------------------------------------------------------------

    def install(self, gw: Gateway, keep_responses: bool) -> None:
        plan, forward, complete = gw.plan, gw.forward_openai, gw.complete

        async def planned(ctx: RequestContext) -> Plan | None:
            self.enter(ctx)
            try:
                return await plan(ctx)
            except GatewayError as err:
                ctx.notes[STAGE_NOTE] = (err.type, err.code)
                raise

        async def forwarded(ctx: RequestContext, path: str, body: dict[str, Any], stream: bool) -> Any:
            self.enter(ctx)
            try:
                return await forward(ctx, path, body, stream)
            except GatewayError as err:
                ctx.notes[STAGE_NOTE] = (err.type, err.code)
                raise

        async def completed(ctx: RequestContext) -> ChatResponse:
            resp = await complete(ctx)
            ctx.notes[RESPONSE_NOTE] = resp
            return resp

        gw.plan = planned  # type: ignore[method-assign]
        gw.forward_openai = forwarded  # type: ignore[method-assign]
        if keep_responses:
            gw.complete = completed  # type: ignore[method-assign]
        observed = ObservedUpstream(gw.upstream, self)
        gw.upstream = observed
        gw.executor.upstream = observed
        if self.tracing is not None:
            self._install_gate(gw)

    def _install_gate(self, gw: Gateway) -> None:
        router = gw.executor.router
        gate = router.gate

        def gated(dep: Deployment, st: DeploymentState) -> int:
            ctx = self.current.get()
            if ctx is not None:
                ctx.notes[DEP_NOTE] = dep
            return gate(dep, st)

        router.gate = gated  # type: ignore[method-assign]


class ObservedUpstream(Upstream):
    """The gateway's upstream executor, timed and traced per attempt (see the module docstring)."""

    def __init__(self, inner: Upstream, hooks: Hooks) -> None:  # the inner executor holds the clients
        self.inner = inner
        self.hooks = hooks
        self.client = getattr(inner, "client", "auto")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def send(self, provider: Provider, req: UpstreamRequest) -> UpstreamResponse:
        ctx = self.hooks.current.get()
        if ctx is None:
            return await self.inner.send(provider, req)
        span = self.hooks.attempt(ctx, provider, req)
        times = [time.perf_counter(), 0.0, 0.0]
        ctx.notes[UP_NOTE] = times
        try:
            resp = await self.inner.send(provider, req)
        except BaseException as exc:
            times[2] = time.perf_counter()
            self.hooks.attempt_done(span, getattr(exc, "status", 599), str(exc))
            raise
        times[2] = time.perf_counter()
        self.hooks.attempt_done(span, resp.status, None)
        return resp

    async def stream(self, provider: Provider, req: UpstreamRequest) -> UpstreamStream:
        ctx = self.hooks.current.get()
        if ctx is None:
            return await self.inner.stream(provider, req)
        span = self.hooks.attempt(ctx, provider, req)
        times = [time.perf_counter(), 0.0, 0.0]
        ctx.notes[UP_NOTE] = times
        try:
            inner = await self.inner.stream(provider, req)
        except BaseException as exc:
            times[2] = time.perf_counter()
            self.hooks.attempt_done(span, getattr(exc, "status", 599), str(exc))
            raise
        return UpstreamStream(_TimedBody(inner, ctx, times, span, self.hooks))

    async def close(self) -> None:
        await self.inner.close()


class _TimedBody:
    """An open upstream stream that notes its first chunk and its end (a StreamBody)."""

    __slots__ = ("ctx", "headers", "hooks", "inner", "span", "status", "times")

    def __init__(
        self, inner: UpstreamStream, ctx: RequestContext, times: list[float], span: Span | None, hooks: Hooks
    ) -> None:
        self.inner, self.ctx, self.times, self.span, self.hooks = inner, ctx, times, span, hooks
        self.status = inner.status
        self.headers = inner.headers

    async def read(self) -> bytes:
        try:
            return await self.inner.read()
        finally:
            self._end(None)

    async def chunks(self) -> AsyncIterator[bytes]:
        error: str | None = None
        try:
            async for chunk in self.inner.chunks():
                if not self.times[1]:
                    self.times[1] = self.ctx.first_byte_at = time.perf_counter()
                yield chunk
        except GatewayError as err:
            error = err.message
            raise
        finally:
            self._end(error)

    def close(self) -> None:
        self.inner.close()
        self._end(None)

    def _end(self, error: str | None) -> None:
        if self.times[2]:
            return
        self.times[2] = time.perf_counter()
        self.hooks.attempt_done(self.span, self.status if error is None else 502, error)

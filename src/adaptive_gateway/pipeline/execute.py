"""Execute a plan: try its candidates in order until one answers, retrying what is safe to retry.

First pass: each candidate once, in plan order; an open circuit breaker skips a candidate without a
network call, a half-open one lets one probe request through. A retryable failure (connect error,
timeout, 408, 429, 5xx, ``retry.retry_on``) hands over to the next candidate at once and queues the
deployment for the next pass; later passes wait out an exponential backoff with jitter, or the
upstream's ``Retry-After`` / ``retry-after-ms`` when longer (up to ``retry.max_retry_after``). A content
policy refusal or a too-long request moves on to another model's candidates; any other client error stops
at once with the upstream's status. ``retry.attempt_timeout`` bounds each attempt (to the first byte),
``retry.total_timeout`` all of them. When everything fails, one error lists every attempt and its cause.

A stream is committed after its first chunk: once a byte went to the client it is never retried or
replayed elsewhere; a later failure ends it with the format's error event (server/proxy.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from adaptive_gateway.config import Deployment, Provider
from adaptive_gateway.errors import (
    AllAttemptsFailed,
    Attempt,
    GatewayError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.media import MediaFetcher, prepare
from adaptive_gateway.pipeline.whole_answer import as_native_stream, is_whole_answer
from adaptive_gateway.providers.base import Adapter, StreamParser, UpstreamRequest
from adaptive_gateway.providers.upstream import Upstream, UpstreamStream
from adaptive_gateway.routing.breaker import ALLOW, DENY
from adaptive_gateway.routing.health import DeploymentState
from adaptive_gateway.routing.plan import Plan
from adaptive_gateway.routing.retry import CONTEXT_LENGTH, backoff, classify, retry_after
from adaptive_gateway.routing.router import Router
from adaptive_gateway.types import ChatResponse

T = TypeVar("T")
# the base URL of a provider known only at run time (the embedded runtime's port)
BaseUrlResolver = Callable[[Provider], Awaitable[str]]
Sleep = Callable[[float], Awaitable[None]]
MIN_SLEEP = 0.001  # shorter waits are not worth a timer


class ContentFiltered(UpstreamError):
    """A 200 answer whose every choice the upstream's content filter stopped; another model may answer."""

    def __init__(self, response: ChatResponse, dep: Deployment) -> None:
        super().__init__(
            f"{dep.id}: answer withheld by the upstream's content filter", status=400, code="content_filter"
        )
        self.response = response
        self.deployment = dep


def _all_filtered(out: ChatResponse) -> bool:
    """Every choice stopped by the upstream's content filter (decoded, or passed through raw)."""
    if out.choices:
        return all(c.finish_reason == "content_filter" for c in out.choices)
    choices = out.raw.get("choices") if out.raw is not None else None
    return (
        isinstance(choices, list)
        and bool(choices)
        and all(isinstance(c, dict) and c.get("finish_reason") == "content_filter" for c in choices)
    )


class Lease:
    """A committed stream's hold on its deployment: in flight until the stream ends; a failure after
    the first chunk still counts against the deployment's health and breaker."""

    __slots__ = ("dep", "done", "router", "st")

    def __init__(self, router: Router, dep: Deployment, st: DeploymentState) -> None:
        self.router, self.dep, self.st, self.done = router, dep, st, False

    def finish(self, err: GatewayError | None = None) -> None:
        """Idempotent; ``err``: the stream broke after it was committed."""
        if self.done:
            return
        self.done = True
        self.st.health.inflight -= 1
        if err is not None:
            self.router.failed(self.dep, self.st, classify(err), err)


async def _no_more() -> AsyncIterator[bytes]:
    return
    yield b""


@dataclass(slots=True)
class OpenStream:
    """A committed upstream stream: ``first`` is already read; iterate ``chunks()`` for all of it."""

    deployment: Deployment
    adapter: Adapter
    upstream: UpstreamStream
    first: bytes
    rest: AsyncIterator[bytes]
    lease: Lease | None = None

    def parser(self, ctx: RequestContext) -> StreamParser:
        assert ctx.request is not None
        return self.adapter.stream_parser(ctx.request)

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            yield self.first
            async for chunk in self.rest:
                yield chunk
        except GatewayError as err:
            if self.lease is not None:
                self.lease.finish(err)
            raise
        finally:
            if self.lease is not None:
                self.lease.finish()


class _Run:
    """The state of executing one plan."""

    __slots__ = ("blocked", "deadline", "first_pass", "last", "overflow", "plan", "retry", "skipped")

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        total = plan.model.retry.total_timeout
        self.deadline = asyncio.get_running_loop().time() + total if total else None
        self.retry: list[tuple[Deployment, float]] = []  # (deployment, its Retry-After or 0)
        self.skipped: list[Attempt] = []
        self.blocked: set[str] | None = None  # models a content-policy / context failure moved away from
        self.overflow = False  # an upstream said the request is too long
        self.last: GatewayError | None = None
        self.first_pass = 0  # attempts in the first pass (distinct deployments)

    def excluded(self, i: int, dep: Deployment) -> bool:
        if self.blocked is not None and dep.model_name in self.blocked:
            return True
        return i >= self.plan.context_from and not self.overflow

    def timeout(self, policy_timeout: float | None) -> float | None:
        if self.deadline is None:
            return policy_timeout
        left = self.deadline - asyncio.get_running_loop().time()
        return left if policy_timeout is None else min(policy_timeout, left)

    def skip(self, dep: Deployment, why: str) -> None:
        self.skipped.append(Attempt(dep.id, f"skipped: {why}"))


class Executor:
    def __init__(
        self,
        upstream: Upstream,
        adapters: dict[str, Adapter],
        resolve_base: BaseUrlResolver | None = None,
        media: MediaFetcher | None = None,
        router: Router | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.upstream = upstream
        self.adapters = adapters
        self.resolve_base = resolve_base
        self.media = media or MediaFetcher()
        self.router = router or Router()
        self.sleep = sleep  # injectable: tests record the backoff instead of waiting it out

    async def _build(self, ctx: RequestContext, dep: Deployment) -> tuple[Adapter, UpstreamRequest]:
        assert ctx.request is not None
        adapter = self.adapters[dep.provider.adapter]
        await prepare(ctx.request, adapter, dep, self.media)  # refuse what dep cannot take; inline images
        ureq = adapter.build(ctx.request, dep, ctx.provider_key)
        if not dep.provider.base_url and self.resolve_base is not None:
            ureq.url = await self.resolve_base(dep.provider) + ureq.url
        return adapter, ureq

    # ---- the two kinds of attempt -----------------------------------------------------------------------

    async def _complete_once(self, ctx: RequestContext, run: _Run, dep: Deployment) -> ChatResponse:
        assert ctx.request is not None
        adapter, ureq = await self._build(ctx, dep)
        resp = await self.upstream.send(dep.provider, ureq)
        if resp.status >= 400:
            raise adapter.classify_error(resp.status, resp.body, resp.headers)
        out = adapter.parse(resp.body, ctx.request)
        if run.plan.model.content_policy_fallback and _all_filtered(out):
            raise ContentFiltered(out, dep)
        return out

    async def _stream_once(self, ctx: RequestContext, run: _Run, dep: Deployment) -> OpenStream:
        adapter, ureq = await self._build(ctx, dep)
        stream = await self.upstream.stream(dep.provider, ureq)
        try:
            if stream.status >= 400:
                raise adapter.classify_error(stream.status, await stream.read(), stream.headers)
            if is_whole_answer(adapter, stream.headers):  # the server did not stream (whole_answer.py)
                assert ctx.request is not None
                first = as_native_stream(adapter, ctx.request, await stream.read())
                rest: AsyncIterator[bytes] = _no_more()
            else:
                rest = stream.chunks()
                first = await anext(rest, b"")
            if not first:
                raise UpstreamUnreachable(f"{dep.id}: the stream ended before any data")
        except BaseException:
            stream.close()
            raise
        return OpenStream(dep, adapter, stream, first, rest)

    # ---- the loop ---------------------------------------------------------------------------------------

    async def complete(self, ctx: RequestContext, plan: Plan) -> ChatResponse:
        try:
            return await self._run(ctx, plan, self._complete_once)
        except ContentFiltered as err:  # every model refused: the refusal is the answer
            ctx.deployment = err.deployment
            return err.response

    async def open_stream(self, ctx: RequestContext, plan: Plan) -> OpenStream:
        stream = await self._run(ctx, plan, self._stream_once)
        stream.lease = Lease(self.router, stream.deployment, self.router.state(stream.deployment))
        ctx.notes["routing.lease"] = stream.lease
        return stream

    async def _run(
        self,
        ctx: RequestContext,
        plan: Plan,
        once: Callable[[RequestContext, _Run, Deployment], Awaitable[T]],
    ) -> T:
        run = _Run(plan)
        for i, dep in enumerate(plan.candidates):
            if run.excluded(i, dep):
                continue
            result = await self._attempt(ctx, run, dep, once, True)
            if result is not None:
                return result
        for pass_no in range(1, plan.model.retry.retries + 1):
            if not run.retry:
                break
            result = await self._retry_pass(ctx, run, pass_no, once)
            if result is not None:
                return result
        raise self._give_up(ctx, run)

    async def _retry_pass(
        self,
        ctx: RequestContext,
        run: _Run,
        pass_no: int,
        once: Callable[[RequestContext, _Run, Deployment], Awaitable[T]],
    ) -> T | None:
        """Retry the deployments that failed retryably, each after its backoff / Retry-After."""
        loop = asyncio.get_running_loop()
        base = backoff(pass_no, run.plan.model.retry, self.router.rng.random())
        queue = sorted(((max(base, ra), dep) for dep, ra in run.retry), key=lambda x: x[0])
        run.retry = []
        start, slept = loop.time(), 0.0
        for delay, dep in queue:
            if run.blocked is not None and dep.model_name in run.blocked:
                continue
            wait = delay - max(loop.time() - start, slept)
            if run.deadline is not None and loop.time() + max(wait, 0.0) >= run.deadline:
                run.skip(dep, f"a retry after {delay:.2f} s would pass the total deadline")
                continue
            if wait > MIN_SLEEP:
                await self.sleep(wait)
                slept += wait
            result = await self._attempt(ctx, run, dep, once, False)
            if result is not None:
                return result
        return None

    async def _attempt(
        self,
        ctx: RequestContext,
        run: _Run,
        dep: Deployment,
        once: Callable[[RequestContext, _Run, Deployment], Awaitable[T]],
        first_pass: bool,
    ) -> T | None:
        router = self.router
        st = router.state(dep)
        probe = False
        gate = router.gate(dep, st)
        if gate != ALLOW:
            forced = run.plan.forced
            if forced is not None and dep.id in forced:
                pass  # every breaker was open: tried anyway
            elif gate == DENY or not await router.take_probe(dep, st):
                run.skip(dep, "circuit breaker open")
                return None
            else:
                probe = True
        timeout = run.timeout(run.plan.model.retry.attempt_timeout)
        if timeout is not None and timeout <= 0:
            router.released(dep, st, probe)
            run.skip(dep, "total deadline reached")
            return None
        if first_pass:
            run.first_pass += 1
        ctx.fallbacks = max(run.first_pass - 1, 0)
        st.health.inflight += 1
        started = time.perf_counter()
        try:
            if timeout is None:
                result = await once(ctx, run, dep)
            else:
                result = await self._bounded(ctx, run, dep, once, timeout)
        except GatewayError as err:
            st.health.inflight -= 1
            self._failed(ctx, run, dep, st, err, probe)
            return None
        except BaseException:
            st.health.inflight -= 1
            router.released(dep, st, probe)
            raise
        router.succeeded(dep, st, (time.perf_counter() - started) * 1000)
        if not isinstance(result, OpenStream):
            st.health.inflight -= 1  # a stream stays in flight until its lease ends
        ctx.deployment = dep
        self._headers(ctx, run, dep)
        return result

    @staticmethod
    async def _bounded(
        ctx: RequestContext,
        run: _Run,
        dep: Deployment,
        once: Callable[[RequestContext, _Run, Deployment], Awaitable[T]],
        timeout: float,
    ) -> T:
        try:
            async with asyncio.timeout(timeout):
                return await once(ctx, run, dep)
        except TimeoutError:
            which = "attempt" if timeout == run.plan.model.retry.attempt_timeout else "total"
            raise UpstreamTimeout(
                f"{dep.id}: timeout, no answer within {timeout:.3g} s ({which} deadline)"
            ) from None

    def _failed(
        self,
        ctx: RequestContext,
        run: _Run,
        dep: Deployment,
        st: DeploymentState,
        err: GatewayError,
        probe: bool,
    ) -> None:
        """Record a failed attempt; raise it when nothing else may be tried."""
        policy = run.plan.model.retry
        fc = classify(err, policy.retry_on)
        ctx.attempts.append(Attempt(dep.id, err.message, err.status))
        run.last = err
        self.router.failed(dep, st, fc, err)
        if probe and not fc.breaker:
            self.router.released(dep, st, True)
        if not fc.failover:
            raise err
        if fc.other_model:
            run.blocked = (run.blocked or set()) | {dep.model_name}
            run.overflow = run.overflow or fc.kind == CONTEXT_LENGTH
        if fc.retry:
            wait = retry_after(err.headers)
            if wait is None or wait <= policy.max_retry_after:
                run.retry.append((dep, wait or 0.0))

    @staticmethod
    def _headers(ctx: RequestContext, run: _Run, dep: Deployment) -> None:
        retries = len(ctx.attempts) + 1 - run.first_pass
        if retries > 0:
            ctx.extra_headers.append((b"x-adaptive-retries", str(retries).encode()))
        if dep.model_name != run.plan.model.name:
            ctx.extra_headers.append((b"x-adaptive-model", dep.model_name.encode()))

    @staticmethod
    def _give_up(ctx: RequestContext, run: _Run) -> GatewayError:
        plan, last = run.plan, run.last
        if last is None:
            detail = "; ".join(plan.reasons + [f"{a.deployment}: {a.error}" for a in run.skipped])
            return ServiceUnavailable(
                f"no eligible deployment for model '{plan.model.name}': {detail or 'no deployments'}"
            )
        if isinstance(last, ContentFiltered):
            return last
        tried = {a.deployment for a in ctx.attempts}
        if len(tried) == 1 and not run.skipped and not plan.skipped:
            # one deployment (maybe retried): its own error keeps its status, code and Retry-After
            if len(ctx.attempts) > 1:
                last.message = f"{last.message} (after {len(ctx.attempts)} attempts)"
            return last
        planned = [Attempt(d.id, f"skipped: {why}") for d, why in plan.skipped if d.id not in tried]
        err = AllAttemptsFailed([*planned, *run.skipped, *ctx.attempts])
        if err.status == 429:
            err.headers = dict(last.headers)  # Retry-After of the last one
        return err

"""Execute a plan: try each candidate in order until one answers.

A candidate that fails with a transport error or a retryable status hands over to the next; a client
error (4xx other than 408/409/429) stops at once with the upstream's status. A stream is committed
only after its first chunk arrived: once a byte went to the client it is never replayed elsewhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from adaptive_gateway.config import Deployment, Provider
from adaptive_gateway.errors import AllAttemptsFailed, Attempt, GatewayError, ServiceUnavailable
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.media import CapabilityMismatch, MediaFetcher, prepare
from adaptive_gateway.providers.base import Adapter, StreamParser, UpstreamRequest
from adaptive_gateway.providers.upstream import Upstream, UpstreamStream
from adaptive_gateway.routing.plan import Plan
from adaptive_gateway.types import ChatResponse

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
# the base URL of a provider known only at run time (the embedded runtime's port)
BaseUrlResolver = Callable[[Provider], Awaitable[str]]


@dataclass(slots=True)
class OpenStream:
    """A committed upstream stream: ``first`` is already read; iterate ``rest`` for the remainder."""

    deployment: Deployment
    adapter: Adapter
    upstream: UpstreamStream
    first: bytes
    rest: AsyncIterator[bytes]

    def parser(self, ctx: RequestContext) -> StreamParser:
        assert ctx.request is not None
        return self.adapter.stream_parser(ctx.request)

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.first
        async for chunk in self.rest:
            yield chunk


class Executor:
    def __init__(
        self,
        upstream: Upstream,
        adapters: dict[str, Adapter],
        resolve_base: BaseUrlResolver | None = None,
        media: MediaFetcher | None = None,
    ) -> None:
        self.upstream = upstream
        self.adapters = adapters
        self.resolve_base = resolve_base
        self.media = media or MediaFetcher()

    async def _build(self, ctx: RequestContext, dep: Deployment) -> tuple[Adapter, UpstreamRequest]:
        assert ctx.request is not None
        adapter = self.adapters[dep.provider.adapter]
        await prepare(ctx.request, adapter, dep, self.media)  # refuse what dep cannot take; inline images
        ureq = adapter.build(ctx.request, dep, ctx.provider_key)
        if not dep.provider.base_url and self.resolve_base is not None:
            ureq.url = await self.resolve_base(dep.provider) + ureq.url
        return adapter, ureq

    def _failed(self, ctx: RequestContext, dep: Deployment, err: GatewayError) -> bool:
        """Record a failed attempt; True when the next candidate may be tried."""
        ctx.attempts.append(Attempt(dep.id, err.message, err.status))
        # a deployment that cannot take the request (tools, content type) hands over to the next
        return err.status in RETRYABLE_STATUS or isinstance(err, CapabilityMismatch)

    @staticmethod
    def _give_up(ctx: RequestContext, plan: Plan, last: GatewayError | None) -> GatewayError:
        if last is None:
            detail = "; ".join(plan.reasons) or "no deployments"
            return ServiceUnavailable(f"no eligible deployment for model '{plan.model.name}': {detail}")
        return last if len(ctx.attempts) == 1 else AllAttemptsFailed(ctx.attempts)

    async def complete(self, ctx: RequestContext, plan: Plan) -> ChatResponse:
        assert ctx.request is not None
        last: GatewayError | None = None
        for i, dep in enumerate(plan.candidates):
            ctx.fallbacks = i
            try:
                adapter, ureq = await self._build(ctx, dep)
                resp = await self.upstream.send(dep.provider, ureq)
                if resp.status >= 400:
                    raise adapter.classify_error(resp.status, resp.body, resp.headers)
                ctx.deployment = dep
                return adapter.parse(resp.body, ctx.request)
            except GatewayError as err:
                last = err
                if not self._failed(ctx, dep, err):
                    raise
        raise self._give_up(ctx, plan, last)

    async def open_stream(self, ctx: RequestContext, plan: Plan) -> OpenStream:
        last: GatewayError | None = None
        for i, dep in enumerate(plan.candidates):
            ctx.fallbacks = i
            stream: UpstreamStream | None = None
            try:
                adapter, ureq = await self._build(ctx, dep)
                stream = await self.upstream.stream(dep.provider, ureq)
                if stream.status >= 400:
                    raise adapter.classify_error(stream.status, await stream.read(), stream.headers)
                rest = stream.chunks()
                first = await anext(rest, b"")
                ctx.deployment = dep
                return OpenStream(dep, adapter, stream, first, rest)
            except GatewayError as err:
                if stream is not None:
                    stream.close()
                last = err
                if not self._failed(ctx, dep, err):
                    raise
        raise self._give_up(ctx, plan, last)

"""The cache extension: exact and semantic response caching (docs/cache.md).

Installs, after trust and accounts (so a request is authenticated, classified and admitted, and a hit
still counts against its rate limits, before anything is looked up):

* the lookup stage: on a hit it leaves :class:`~adaptive_gateway.pipeline.context.Answered` as
  ``ctx.answer``, which skips routing and execution (``Gateway.complete`` returns the answer; for
  streams the server replays it through the client format's stream renderer);
* wrappers that keep the answer for the store: the response of ``Gateway.complete``, and for streams
  a side parser on the upstream bytes (the client's bytes are not touched, passthrough included);
* the store finisher; ``GET`` / ``DELETE /api/cache`` (``server/cache_http.py``); a readiness check;
  startup / shutdown hooks (following other replicas' purges, closing Redis).

Metrics and the request log read the verdict from ``ctx.notes["cache"]`` (observability extension).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from adaptive_gateway.cache.recall import Recalled, Replayable
from adaptive_gateway.cache.replay import StreamAssembler
from adaptive_gateway.cache.service import CAPTURE_NOTE, PLAN_NOTE, RESPONSE_NOTE, CachePlan, ResponseCache
from adaptive_gateway.config import gateway_home
from adaptive_gateway.pipeline.context import Answered, RequestContext
from adaptive_gateway.pipeline.execute import OpenStream
from adaptive_gateway.pipeline.gateway import REPLAY_NOTE, Gateway
from adaptive_gateway.server import cache_http
from adaptive_gateway.types import ChatResponse

if TYPE_CHECKING:
    from adaptive_gateway.server.app import GatewayApp


class CacheStage:
    """The lookup stage (``app.gateway.stages``). Only chat requests (routes named by their wire
    format) are looked up; endpoint routes such as ``/v1/messages/count_tokens`` are not."""

    def __init__(self, cache: ResponseCache) -> None:
        self.cache = cache

    def __call__(self, ctx: RequestContext) -> Awaitable[None] | None:
        if ctx.request is None or ctx.route.startswith("/"):
            return None
        recalled = ctx.notes.get(REPLAY_NOTE)
        if isinstance(recalled, Recalled):  # answered without waiting (Stage: no coroutine)
            answer = self.cache.replay(ctx, recalled)
            stream = self.cache.replay_stream(ctx, recalled) if recalled.request.stream else None
            ctx.answer = Answered(answer, stream)
            return None
        return self._lookup(ctx)

    async def _lookup(self, ctx: RequestContext) -> None:
        resp = await self.cache.lookup(ctx)
        if resp is not None:
            ctx.answer = Answered(resp)


def _storing(ctx: RequestContext) -> bool:
    plan = ctx.notes.get(PLAN_NOTE)
    return isinstance(plan, CachePlan) and not plan.hit and plan.decision.store


def _wrap_complete(gw: Gateway) -> None:
    complete = gw.complete

    async def completed(ctx: RequestContext) -> ChatResponse:
        resp = await complete(ctx)
        if _storing(ctx):
            ctx.notes[RESPONSE_NOTE] = resp
        return resp

    gw.complete = completed  # type: ignore[method-assign]


def _wrap_open_stream(gw: Gateway) -> None:
    open_stream = gw.open_stream

    async def opened(ctx: RequestContext) -> OpenStream | Answered:
        stream = await open_stream(ctx)
        if isinstance(stream, Answered):
            return stream
        adapter = gw.adapters.get(stream.deployment.provider.adapter)
        if not _storing(ctx) or adapter is None or ctx.request is None:
            return stream
        # the registry's own adapter: wrappers (trust's restoring parser) must not see the bytes twice
        capture = StreamAssembler(adapter.stream_parser(ctx.request))
        ctx.notes[CAPTURE_NOTE] = capture
        return dataclasses.replace(stream, rest=capture.tee(stream.first, stream.rest))

    gw.open_stream = opened  # type: ignore[method-assign]


def install(app: GatewayApp) -> None:
    gw = app.gateway
    cache = ResponseCache(gw.config, home=gateway_home())
    runtimes: Any = app.extras.get("embedded")
    if runtimes is not None:
        cache.embedder = runtimes.embedder  # the MiniLM model loads once, shared with /v1/embeddings
    stage = CacheStage(cache)
    gw.stages.append(stage)
    gw.recall = cache.recall
    gw.finishers.append(cache.store)
    _wrap_complete(gw)
    _wrap_open_stream(gw)
    app.extras["cache"] = cache
    cache_http.install_routes(app, cache)
    follower: list[asyncio.Task[None]] = []

    async def startup() -> None:
        # the stages before the lookup whose result a byte-identical repeat may reuse (the trust stage);
        # read once every extension is installed (Gateway.plan skips each of them for a recalled request)
        before = gw.stages[: gw.stages.index(stage)]
        cache.memo.stages = [s for s in before if isinstance(s, Replayable)]
        await cache.start()  # the persisted semantic index
        if cache.shared is not None:
            follower.append(asyncio.get_running_loop().create_task(cache.follow_purges()))

    async def shutdown() -> None:
        for task in follower:
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task
        await cache.close()

    async def ready() -> tuple[str, bool, str]:
        detail = f"{len(cache.local)} entries in process"
        if cache.shared is not None:
            ok, where = await cache.shared.ping()
            detail += f"; shared: {where}" + ("" if ok else " (unreachable: lookups miss, stores skipped)")
        if cache.semantic_error:
            detail += f"; {cache.semantic_error}"
        return "cache", True, detail  # a cache in trouble slows answers down but never stops them

    app.on_startup.append(startup)
    app.on_shutdown.append(shutdown)
    gw.readiness.append(ready)

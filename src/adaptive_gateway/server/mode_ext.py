"""Offline mode (``mode: offline`` in the config, set by ``adaptive-llm-gateway mode offline``): only
providers with ``locality: local`` are used, so no request content leaves the machine.

Installs a candidate filter (hosted deployments are vetoed, with the reason in the route explanation),
a stage that refuses a model with no local deployment at all with one clear error, a guard on the
forwarded OpenAI endpoints (embeddings, completions), which do not go through the planner, and a
readiness check that reports the mode. The mode is read from the request's config, so a config reload
(file change or SIGHUP) switches it without a restart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from adaptive_gateway.config import CompiledConfig, Deployment, Model
from adaptive_gateway.errors import PolicyBlocked
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.routing.plan import CandidateFilter

if TYPE_CHECKING:
    from adaptive_gateway.pipeline.gateway import Gateway
    from adaptive_gateway.server.app import GatewayApp

OFFLINE = "offline"
VETO = "offline mode: hosted provider not used"
ONLINE_HINT = "run `adaptive-llm-gateway mode online` to allow hosted providers"
FORWARD_ADAPTERS = ("openai", "embedded")  # what Gateway.forward_openai may pick


def is_offline(config: CompiledConfig) -> bool:
    return config.source.mode == OFFLINE


def _veto_hosted(dep: Deployment) -> str | None:
    return None if dep.provider.locality == "local" else f"{VETO} ('{dep.provider.name}')"


def offline_filter(ctx: RequestContext) -> CandidateFilter | None:
    """A candidate filter vetoing hosted deployments while the request's config is offline."""
    return _veto_hosted if is_offline(ctx.config) else None


def local_models(config: CompiledConfig) -> list[str]:
    """Public model names with at least one local deployment."""
    return sorted(
        name
        for name, m in config.models.items()
        if any(d.provider.locality == "local" for d in m.deployments)
    )


def offline_error(config: CompiledConfig, name: str) -> PolicyBlocked:
    usable = ", ".join(local_models(config)) or "none configured"
    return PolicyBlocked(
        f"the gateway is in offline mode and model '{name}' has only hosted deployments; "
        f"local models: {usable}; {ONLINE_HINT}",
        param="model",
        code="offline_mode",
    )


def _reachable_deployments(config: CompiledConfig, model: Model) -> list[Deployment]:
    models = [model, *(config.models.get(n) for n in config.chain(model))]
    if model.context_fallback:
        models.append(config.resolve(model.context_fallback))
    return [d for m in models if m is not None for d in m.deployments]


def offline_stage(ctx: RequestContext) -> None:
    """Refuse, with one clear error, a chat request whose model (with its fallbacks) is hosted-only.
    Virtual models without deployments of their own are left to the filter."""
    if ctx.request is None or not is_offline(ctx.config):
        return
    model = ctx.config.resolve(ctx.request.model)
    if model is None:
        return
    deployments = _reachable_deployments(ctx.config, model)
    if deployments and all(d.provider.locality != "local" for d in deployments):
        raise offline_error(ctx.config, ctx.request.model)


Forward = Callable[[RequestContext, str, dict[str, Any], bool], Awaitable[Any]]


def guard_forward(gw: Gateway) -> Forward:
    """Wraps ``Gateway.forward_openai`` (completions, embeddings: it fails over across the model's
    OpenAI-compatible deployments without the planner's filters) so that offline only local ones are
    tried: none local is the offline error, some local means the others are dropped from the model."""
    forward: Forward = gw.forward_openai

    async def guarded(ctx: RequestContext, path: str, body: dict[str, Any], stream: bool) -> Any:
        model = ctx.config.resolve(str(body.get("model"))) if is_offline(ctx.config) else None
        usable = [d for d in model.deployments if d.provider.adapter in FORWARD_ADAPTERS] if model else []
        local = tuple(d for d in usable if d.provider.locality == "local")
        if model is None or len(local) == len(usable):
            return await forward(ctx, path, body, stream)
        if not local:
            raise offline_error(ctx.config, str(body.get("model")))
        from adaptive_gateway.pipeline.forward import forward as forward_to

        gw.resolve_model(ctx, str(body["model"]))  # the key's model permissions, as forward_openai
        await gw.run_stages(ctx)
        return await forward_to(gw, ctx, replace(model, deployments=local), path, body, stream)

    return guarded


def install(app: GatewayApp) -> None:
    gw = app.gateway
    gw.filters.append(offline_filter)
    gw.stages.insert(0, offline_stage)  # before admission reserves any budget
    gw.forward_openai = guard_forward(gw)  # type: ignore[method-assign,assignment]

    async def mode_ready() -> tuple[str, bool, str]:
        if not is_offline(gw.config):
            return "mode", True, "online"
        return "mode", True, f"offline: local models only ({len(local_models(gw.config))})"

    gw.readiness.append(mode_ready)

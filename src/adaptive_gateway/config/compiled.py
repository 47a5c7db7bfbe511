"""The runtime view of a validated config: presets applied, models resolved, lookups precomputed.

The hot path reads only this immutable object; a reload builds a new one and swaps one reference.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from adaptive_gateway.config.presets import Locality, preset_for
from adaptive_gateway.config.schema import (
    BreakerConfig,
    GatewayConfig,
    ModelConfig,
    ProbeConfig,
    ProviderConfig,
    RetryConfig,
    RuntimeOptions,
    Timeouts,
)

# frozen (immutable) defaults for the compiled dataclasses
DEFAULT_PROBE = ProbeConfig()
DEFAULT_RETRY = RetryConfig()
DEFAULT_BREAKER = BreakerConfig()

# the strategy a router mode uses to order the deployments of all its models
ROUTER_STRATEGIES: Mapping[str, str] = {
    "balanced": "balanced",
    "cost": "lowest-cost",
    "latency": "lowest-latency",
    "quality": "quality",
}


def hash_key(key: str) -> str:
    """The stored form of a gateway key: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    kind: str
    adapter: str
    base_url: str
    auth: str
    locality: Locality
    timeouts: Timeouts
    headers: tuple[tuple[str, str], ...]
    max_connections: int
    api_key: str | None = field(default=None, repr=False)
    model_path: str | None = None
    runtime: RuntimeOptions | None = None
    keepalive: bool = True
    probe: ProbeConfig = DEFAULT_PROBE

    @property
    def probe_enabled(self) -> bool:
        """Active probes: as configured, else on for local providers and off for hosted (paid) ones."""
        on = self.probe.enabled
        return self.locality == "local" if on is None else on


@dataclass(frozen=True, slots=True)
class Deployment:
    id: str
    model_name: str
    provider: Provider
    upstream_model: str
    weight: float
    input_price: float
    output_price: float
    cached_input_price: float
    context_window: int | None
    max_output_tokens: int | None
    supports_tools: bool = True
    quality: float | None = None
    breaker: BreakerConfig = DEFAULT_BREAKER  # the policy of the model that declares this deployment

    @property
    def unit_price(self) -> float:
        """Input + output USD per million tokens: the order of the cost strategies."""
        return self.input_price + self.output_price

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
        """USD cost of a request at this deployment's prices (per-million rates)."""
        fresh = max(input_tokens - cached_input_tokens, 0)
        return (
            fresh * self.input_price
            + cached_input_tokens * self.cached_input_price
            + output_tokens * self.output_price
        ) / 1_000_000


@dataclass(frozen=True, slots=True)
class Model:
    """A model as routing sees it; everything a request needs is precomputed here at compile time.

    A virtual model has no deployments of its own: ``split`` picks one of several models per request
    (A/B), ``router`` orders the deployments of several models by one strategy (``deployments`` then
    holds them all)."""

    name: str
    deployments: tuple[Deployment, ...]
    strategy: str
    fallbacks: tuple[str, ...]
    description: str = ""
    retry: RetryConfig = DEFAULT_RETRY
    breaker: BreakerConfig = DEFAULT_BREAKER
    content_policy_fallback: bool = True
    context_fallback: str | None = None
    max_latency_ms: float | None = None
    min_quality: float | None = None
    # (model name, cumulative weight) per split arm, and the total
    split: tuple[tuple[str, float], ...] = ()
    split_total: float = 0.0
    sticky: str | None = None  # "key" or a lower-case header name
    router: str | None = None
    # deployments with weight > 0, heaviest first, and their cumulative weights (weighted choice)
    weighted: tuple[Deployment, ...] = ()
    cum_weights: tuple[float, ...] = ()
    # true when some deployment the request may reach has a context window (the planner then estimates
    # the request's tokens)
    uses_windows: bool = False


@dataclass(frozen=True)
class CompiledConfig:
    source: GatewayConfig
    providers: Mapping[str, Provider]
    models: Mapping[str, Model]
    aliases: Mapping[str, str]
    master_key_hash: str | None
    digest: str
    # router:balanced|cost|latency|quality across every model, when the config does not define them
    implicit: Mapping[str, Model] = field(default_factory=dict)

    def resolve(self, name: str) -> Model | None:
        """The model a public name, alias or implicit ``router:*`` name refers to."""
        model = self.models.get(name)
        if model is None:
            target = self.aliases.get(name)
            model = self.models.get(target) if target is not None else self.implicit.get(name)
        return model

    def public_names(self) -> list[str]:
        return sorted([*self.models, *self.aliases])

    def chain(self, model: Model) -> tuple[str, ...]:
        """The names of a model's fallbacks, aliases resolved."""
        return tuple(self.aliases.get(f, f) for f in model.fallbacks)


def _local_key(name: str, master_hash: str | None) -> str:
    """The key an embedded child requires: stable across reloads, derived from the master key's hash."""
    return "agw-local-" + hashlib.sha256(f"{master_hash or 'none'}:{name}".encode()).hexdigest()[:32]


def _provider(name: str, cfg: ProviderConfig, master_hash: str | None = None) -> Provider:
    preset = preset_for(cfg.kind)
    assert preset is not None, "validated config has known kinds"
    embedded = preset.adapter == "embedded"
    api_key = cfg.api_key.get_secret_value() if cfg.api_key else None
    base_url = (cfg.base_url or preset.base_url or "").rstrip("/")
    return Provider(
        name=name,
        kind=cfg.kind,
        adapter=preset.adapter,
        base_url=base_url,
        auth=preset.auth,
        locality=cfg.locality or preset.locality,
        timeouts=cfg.timeouts,
        headers=tuple(cfg.headers.items()),
        max_connections=cfg.max_connections,
        api_key=api_key or (_local_key(name, master_hash) if embedded else None),
        model_path=cfg.model_path,
        runtime=cfg.runtime if embedded else None,
        keepalive=preset.keepalive,
        probe=cfg.probe,
    )


def _deployments(mname: str, m: ModelConfig, providers: Mapping[str, Provider]) -> tuple[Deployment, ...]:
    return tuple(
        Deployment(
            id=f"{mname}#{i}:{d.provider}/{d.model}",
            model_name=mname,
            provider=providers[d.provider],
            upstream_model=d.model,
            weight=d.weight,
            input_price=d.input_price or 0.0,
            output_price=d.output_price or 0.0,
            cached_input_price=(
                d.cached_input_price if d.cached_input_price is not None else d.input_price or 0.0
            ),
            context_window=d.context_window,
            max_output_tokens=d.max_output_tokens,
            supports_tools=d.supports_tools,
            quality=d.quality,
            breaker=m.breaker,
        )
        for i, d in enumerate(m.deployments)
    )


def _members(
    cfg: GatewayConfig, names: list[str] | None, deps: Mapping[str, tuple[Deployment, ...]]
) -> tuple[Deployment, ...]:
    """The deployments of a router's models (default: every model that has deployments)."""
    chosen = [cfg.aliases.get(n, n) for n in names] if names else list(deps)
    return tuple(d for name in chosen for d in deps.get(name, ()))


def _model(name: str, m: ModelConfig, deps: tuple[Deployment, ...], uses_windows: bool = False) -> Model:
    weighted = tuple(sorted((d for d in deps if d.weight > 0), key=lambda d: -d.weight))
    cum, total = [], 0.0
    for d in weighted:
        total += d.weight
        cum.append(total)
    split, split_total = [], 0.0
    for arm, weight in m.split.items():
        if weight > 0:
            split_total += weight
            split.append((arm, split_total))
    sticky = m.sticky.split(":", 1)[1].lower() if m.sticky and m.sticky.startswith("header:") else m.sticky
    return Model(
        name,
        deps,
        ROUTER_STRATEGIES[m.router] if m.router else m.strategy,
        tuple(m.fallbacks),
        m.description,
        retry=m.retry,
        breaker=m.breaker,
        content_policy_fallback=m.content_policy_fallback,
        context_fallback=m.context_fallback,
        max_latency_ms=m.max_latency_ms,
        min_quality=m.min_quality,
        split=tuple(split),
        split_total=split_total,
        sticky=sticky,
        router=m.router,
        weighted=weighted,
        cum_weights=tuple(cum),
        uses_windows=uses_windows,
    )


def _models(cfg: GatewayConfig, deps: Mapping[str, tuple[Deployment, ...]]) -> dict[str, Model]:
    own = {
        name: _members(cfg, m.models, deps)
        if m.router
        else _members(cfg, list(m.split), deps)
        if m.split
        else deps[name]
        for name, m in cfg.models.items()
    }

    def reach(name: str) -> list[str]:
        m = cfg.models.get(cfg.aliases.get(name, name))
        if m is None:
            return []
        names = [*m.split, *m.fallbacks, *([m.context_fallback] if m.context_fallback else [])]
        return [cfg.aliases.get(n, n) for n in names]

    models = {}
    for name, m in cfg.models.items():
        # one level of split arms / fallbacks is enough: arms and context fallbacks are concrete models
        names = {name, *reach(name), *(n for r in reach(name) for n in reach(r))}
        windows = m.context_fallback is not None or any(
            d.context_window is not None for n in names for d in own.get(n, ())
        )
        models[name] = _model(name, m, own[name], windows)
    return models


def compile_config(
    cfg: GatewayConfig, env: Mapping[str, str] | None = None, text: str = ""
) -> CompiledConfig:
    env = os.environ if env is None else env
    master = env.get("ADAPTIVE_GATEWAY_MASTER_KEY")
    master_hash = hash_key(master) if master else cfg.auth.master_key_hash
    providers = {name: _provider(name, p, master_hash) for name, p in cfg.providers.items()}
    deps = {mname: _deployments(mname, m, providers) for mname, m in cfg.models.items()}
    models = _models(cfg, deps)
    master = env.get("ADAPTIVE_GATEWAY_MASTER_KEY")
    everything = _members(cfg, None, deps)
    windows = any(d.context_window is not None for d in everything)
    implicit = {
        name: _model(name, ModelConfig(router=mode), everything, windows)
        for mode in ROUTER_STRATEGIES
        if (name := f"router:{mode}") not in cfg.models and everything
    }
    return CompiledConfig(
        source=cfg,
        providers=providers,
        models=models,
        aliases=dict(cfg.aliases),
        implicit=implicit,
        master_key_hash=master_hash,
        digest=hashlib.sha256(text.encode()).hexdigest()[:16],
    )

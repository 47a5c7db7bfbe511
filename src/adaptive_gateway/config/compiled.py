"""The runtime view of a validated config: presets applied, models resolved, lookups precomputed.

The hot path reads only this immutable object; a reload builds a new one and swaps one reference.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from adaptive_gateway.config.presets import Locality, preset_for
from adaptive_gateway.config.schema import GatewayConfig, ProviderConfig, Timeouts


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
    name: str
    deployments: tuple[Deployment, ...]
    strategy: str
    fallbacks: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class CompiledConfig:
    source: GatewayConfig
    providers: Mapping[str, Provider]
    models: Mapping[str, Model]
    aliases: Mapping[str, str]
    master_key_hash: str | None
    digest: str

    def resolve(self, name: str) -> Model | None:
        """The model a public name or alias refers to."""
        model = self.models.get(name)
        if model is None:
            target = self.aliases.get(name)
            if target is not None:
                model = self.models.get(target)
        return model

    def public_names(self) -> list[str]:
        return sorted([*self.models, *self.aliases])


def _provider(name: str, cfg: ProviderConfig) -> Provider:
    preset = preset_for(cfg.kind)
    assert preset is not None, "validated config has known kinds"
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
        api_key=cfg.api_key.get_secret_value() if cfg.api_key else None,
        model_path=cfg.model_path,
    )


def compile_config(
    cfg: GatewayConfig, env: Mapping[str, str] | None = None, text: str = ""
) -> CompiledConfig:
    env = os.environ if env is None else env
    providers = {name: _provider(name, p) for name, p in cfg.providers.items()}
    models: dict[str, Model] = {}
    for mname, m in cfg.models.items():
        deps = []
        for i, d in enumerate(m.deployments):
            deps.append(
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
                )
            )
        models[mname] = Model(mname, tuple(deps), m.strategy, tuple(m.fallbacks), m.description)
    master = env.get("ADAPTIVE_GATEWAY_MASTER_KEY")
    return CompiledConfig(
        source=cfg,
        providers=providers,
        models=models,
        aliases=dict(cfg.aliases),
        master_key_hash=hash_key(master) if master else cfg.auth.master_key_hash,
        digest=hashlib.sha256(text.encode()).hexdigest()[:16],
    )

"""The cost catalog: list prices per model (USD per million input / output / cached-input tokens).

The bundled ``prices.json`` is overlaid by ``<gateway home>/prices.json`` (written by
``adaptive-llm-gateway prices update --file``) and applied to deployments that have no prices in the
config. Entries are keyed by model (``gpt-4o``) or provider kind and model (``groq/llama-3.1-8b-instant``);
dated snapshots (``gpt-4o-2024-08-06``, ``claude-3-5-haiku-20241022``) fall back to their base name.
Local deployments, and hosted ones reached through a loopback address (a local proxy or test fake),
cost 0 unless the config prices them: their real price is unknown.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from adaptive_gateway.config import CompiledConfig, Deployment, Model, gateway_home

_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")
_LOOPBACK = ("127.", "localhost", "::1", "[::1]", "0.0.0.0")
Price = tuple[float, float, float]  # input, output, cached input


def user_catalog_path() -> Path:
    return gateway_home() / "prices.json"


def validate_catalog(data: Any) -> dict[str, Price]:
    """The ``models`` table of a price file, checked; raises ValueError naming the bad entry."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ValueError('a price file is a JSON object with a "models" object')
    out: dict[str, Price] = {}
    for name, entry in data["models"].items():
        if not isinstance(entry, dict) or not {"input", "output"} <= entry.keys():
            raise ValueError(f"models.{name}: needs numeric 'input' and 'output' (USD per 1M tokens)")
        values = [entry["input"], entry["output"], entry.get("cached_input", entry["input"])]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values):
            raise ValueError(f"models.{name}: prices must be non-negative numbers")
        extra = set(entry) - {"input", "output", "cached_input"}
        if extra:
            raise ValueError(f"models.{name}: unknown field(s) {', '.join(sorted(extra))}")
        out[name] = (float(values[0]), float(values[1]), float(values[2]))
    return out


def load_catalog(user_file: Path | None = None) -> dict[str, Price]:
    """Bundled prices overlaid by the user's file (when present)."""
    bundled = json.loads((resources.files("adaptive_gateway.accounts") / "prices.json").read_text("utf-8"))
    catalog = validate_catalog(bundled)
    path = user_file or user_catalog_path()
    if path.exists():
        catalog.update(validate_catalog(json.loads(path.read_text("utf-8"))))
    return catalog


def lookup(catalog: Mapping[str, Price], provider_kind: str, model: str) -> Price | None:
    for name in (model, _SNAPSHOT.sub("", model)):
        price = catalog.get(f"{provider_kind}/{name}") or catalog.get(name)
        if price is not None:
            return price
    return None


def _priced_by_catalog(dep: Deployment, source: Any) -> bool:
    if source.input_price is not None or source.output_price is not None:
        return False
    if dep.provider.locality != "hosted":
        return False
    host = urlsplit(dep.provider.base_url).hostname or ""
    return bool(host) and not host.startswith(_LOOPBACK)


def apply_catalog(config: CompiledConfig, catalog: Mapping[str, Price]) -> CompiledConfig:
    """A config whose unpriced hosted deployments carry catalog prices (the same object when none)."""
    models: dict[str, Model] = {}
    changed = False
    for name, model in config.models.items():
        source = config.source.models.get(name)
        if source is None or len(source.deployments) != len(model.deployments):
            models[name] = model
            continue
        sources = source.deployments
        deps = []
        for dep, src in zip(model.deployments, sources, strict=True):
            price = (
                lookup(catalog, dep.provider.kind, dep.upstream_model)
                if _priced_by_catalog(dep, src)
                else None
            )
            if price is not None:
                dep = dataclasses.replace(
                    dep, input_price=price[0], output_price=price[1], cached_input_price=price[2]
                )
                changed = True
            deps.append(dep)
        models[name] = dataclasses.replace(model, deployments=tuple(deps))
    return dataclasses.replace(config, models=models) if changed else config


def write_user_catalog(source: Path, target: Path | None = None) -> int:
    """Validate a price file and install it as the user catalog; returns the number of entries."""
    data = json.loads(source.read_text("utf-8"))
    entries = validate_catalog(data)
    target = target or user_catalog_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", "utf-8")
    tmp.replace(target)
    return len(entries)

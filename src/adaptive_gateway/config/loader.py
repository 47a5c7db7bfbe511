"""Load, interpolate and validate the YAML config; every error names its path.

``load_config`` either returns a valid :class:`GatewayConfig` or raises :class:`ConfigError` listing
*all* problems found, e.g. ``models.fast.deployments[1].provider: unknown provider 'opnai'``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from adaptive_gateway.config.cache_schema import cache_errors
from adaptive_gateway.config.presets import PRESETS, preset_for
from adaptive_gateway.config.routing_rules import routing_errors
from adaptive_gateway.config.schema import GatewayConfig

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# values at paths ending in one of these are never echoed in errors
_SECRET_KEYS = ("api_key", "key", "token", "secret", "password", "master_key_hash")


class ConfigError(Exception):
    """One or more config problems; ``errors`` holds one ``path: message`` line each."""

    def __init__(self, errors: list[str], source: str = "") -> None:
        self.errors = errors
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{len(errors)} config error(s): " + "; ".join(errors))


def gateway_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("ADAPTIVE_GATEWAY_HOME") or Path.home() / ".adaptive-llm-gateway").expanduser()


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    explicit = env.get("ADAPTIVE_GATEWAY_CONFIG")
    return Path(explicit).expanduser() if explicit else gateway_home(env) / "config.yaml"


def format_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"


def _is_secret_path(path: str) -> bool:
    last = path.rsplit(".", 1)[-1].split("[", 1)[0]
    return last in _SECRET_KEYS or last.endswith("_key")


def interpolate(node: Any, env: Mapping[str, str], errors: list[str], path: str = "") -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string; unset names are errors."""
    if isinstance(node, dict):
        return {k: interpolate(v, env, errors, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, errors, f"{path}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def sub(m: re.Match[str]) -> str:
        value = env.get(m.group(1))
        if value is None:
            if m.group(2) is not None:
                return m.group(2)
            errors.append(f"{path}: environment variable '{m.group(1)}' is not set")
            return ""
        return value

    return _ENV_REF.sub(sub, node)


def _pydantic_errors(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        path = format_path(list(err["loc"]))
        if err["type"] == "extra_forbidden":
            out.append(f"{path}: unknown key '{err['loc'][-1]}'")
            continue
        msg = err["msg"]
        if err["type"] != "missing" and not _is_secret_path(path):
            msg += f" (got {err.get('input')!r})"
        out.append(f"{path}: {msg}")
    return out


def _mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _entries(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def semantic_errors(data: dict[str, Any]) -> list[str]:
    """Cross-reference checks the structural schema cannot express. Runs on the raw data, so they are
    reported together with structural errors; malformed parts are skipped (the schema reports them)."""
    errors: list[str] = []
    providers = _mapping(data, "providers")
    models = _mapping(data, "models")
    aliases = _mapping(data, "aliases")
    for name, prov in providers.items():
        if not isinstance(prov, dict) or not isinstance(prov.get("kind"), str):
            continue
        preset = preset_for(prov["kind"])
        if preset is None:
            known = ", ".join(sorted(PRESETS))
            errors.append(f"providers.{name}.kind: unknown provider kind '{prov['kind']}' (known: {known})")
        elif preset.base_url is None and not prov.get("base_url") and preset.adapter != "embedded":
            errors.append(f"providers.{name}.base_url: required for kind '{prov['kind']}'")
    for mname, model in models.items():
        if not isinstance(model, dict):
            continue
        deps = _entries(model.get("deployments"))
        for i, dep in enumerate(deps):
            if isinstance(dep.get("provider"), str) and dep["provider"] not in providers:
                known = ", ".join(sorted(providers)) or "none configured"
                errors.append(
                    f"models.{mname}.deployments[{i}].provider: unknown provider '{dep['provider']}'"
                    f" (known: {known})"
                )
        if deps and all(d.get("weight", 1) == 0 for d in deps):
            errors.append(f"models.{mname}.deployments: every weight is 0, nothing could be chosen")
        fallbacks = model.get("fallbacks")
        for i, fb in enumerate(fallbacks if isinstance(fallbacks, list) else []):
            if fb not in models and fb not in aliases:
                errors.append(f"models.{mname}.fallbacks[{i}]: unknown model '{fb}'")
    errors.extend(_fallback_cycles(models, aliases))
    errors.extend(routing_errors(models, aliases))
    errors.extend(cache_errors(data))
    for alias, target in aliases.items():
        if alias in models:
            errors.append(f"aliases.{alias}: shadows the model of the same name")
        if target not in models:
            errors.append(f"aliases.{alias}: unknown model '{target}'")
    return errors


def _fallback_cycles(models: dict[str, Any], aliases: dict[str, Any]) -> list[str]:
    def fallbacks_of(name: str) -> list[str]:
        model = models.get(aliases.get(name, name))
        fbs = model.get("fallbacks") if isinstance(model, dict) else None
        return [aliases.get(f, f) for f in fbs if isinstance(f, str)] if isinstance(fbs, list) else []

    errors = []
    for start in models:
        seen = {start}
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for target in fallbacks_of(node):
                if target == start:
                    errors.append(f"models.{start}.fallbacks: cycle {' -> '.join([*trail, target])}")
                    stack.clear()
                    break
                if target not in seen:
                    seen.add(target)
                    stack.append((target, [*trail, target]))
    return errors


def parse_config(text: str, env: Mapping[str, str] | None = None, source: str = "") -> GatewayConfig:
    """Validate config text; raise :class:`ConfigError` with every problem found."""
    env = os.environ if env is None else env
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([f"(yaml) {where}{getattr(exc, 'problem', exc)}"], source) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"(root): expected a mapping, got {type(data).__name__}"], source)
    errors: list[str] = []
    data = interpolate(data, env, errors)
    try:
        cfg = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        errors.extend(_pydantic_errors(exc))
        cfg = None
    errors.extend(semantic_errors(data))
    if errors or cfg is None:
        raise ConfigError(errors, source)
    return cfg


def load_config(path: Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"(file): cannot read {path}: {exc.strerror}"], str(path)) from None
    return parse_config(text, env, source=str(path))

"""Cross-reference checks for the routing fields of models (split, router, context_fallback, sticky).

Like ``loader.semantic_errors`` they run on the raw data, so they are reported together with the
structural errors, and malformed parts are skipped (the schema reports those).
"""

from __future__ import annotations

from typing import Any


def _is_virtual(model: Any) -> bool:
    return isinstance(model, dict) and bool(model.get("split") or model.get("router"))


def _target_errors(path: str, name: Any, models: dict[str, Any], aliases: dict[str, Any]) -> list[str]:
    """A reference to a model that must exist and have deployments of its own."""
    if not isinstance(name, str):
        return []
    target = models.get(aliases.get(name, name))
    if target is None:
        return [f"{path}: unknown model '{name}'"]
    if _is_virtual(target):
        return [f"{path}: '{name}' is itself a split or router model; name a model with deployments"]
    return []


def _shape_errors(mname: str, model: dict[str, Any]) -> list[str]:
    kinds = [k for k in ("deployments", "split", "router") if model.get(k)]
    if not kinds:
        return [f"models.{mname}: needs deployments, a split or a router mode"]
    if len(kinds) > 1:
        return [f"models.{mname}: set only one of deployments, split and router (got {', '.join(kinds)})"]
    errors = []
    if model.get("sticky") and not model.get("split"):
        errors.append(f"models.{mname}.sticky: only meaningful with split")
    if model.get("models") and not model.get("router"):
        errors.append(f"models.{mname}.models: only meaningful with router")
    return errors


def routing_errors(models: dict[str, Any], aliases: dict[str, Any]) -> list[str]:
    """Problems with split / router / context_fallback references, each naming its path."""
    errors: list[str] = []
    for mname, model in models.items():
        if not isinstance(model, dict):
            continue
        errors.extend(_shape_errors(mname, model))
        split = model.get("split")
        if isinstance(split, dict) and split:
            for arm in split:
                errors.extend(_target_errors(f"models.{mname}.split.{arm}", arm, models, aliases))
            weights = [w for w in split.values() if isinstance(w, int | float)]
            if len(weights) == len(split) and not any(w > 0 for w in weights):
                errors.append(f"models.{mname}.split: every weight is 0, nothing could be chosen")
        members = model.get("models")
        for i, member in enumerate(members if isinstance(members, list) else []):
            errors.extend(_target_errors(f"models.{mname}.models[{i}]", member, models, aliases))
        ctx_fb = model.get("context_fallback")
        if ctx_fb is not None:
            errors.extend(_target_errors(f"models.{mname}.context_fallback", ctx_fb, models, aliases))
    return errors

"""Local model runtimes, found by asking their APIs. Each runtime is one ``RuntimeSpec`` row: the paths to
fetch, how to recognise the answers, and where its version, models and context lengths live.

Several runtimes share default ports (llama.cpp, LocalAI and Open WebUI all like 8080), so a runtime is
only reported when answers have its own shape: a single-page app answering every path with HTML, or a
different runtime on the same port, does not count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from .http import fetch
from .model import ModelInfo, RuntimeFinding

Bodies = Mapping[str, Any]  # path -> decoded body, only for 2xx answers
Enricher = Callable[[aiohttp.ClientSession, str, tuple[ModelInfo, ...]], Awaitable[tuple[ModelInfo, ...]]]

SHOW_LIMIT = 8  # Ollama: ask /api/show for at most this many models (one cheap POST each, in parallel)


@dataclass(frozen=True)
class RuntimeSpec:
    kind: str
    paths: tuple[str, ...]  # fetched in parallel; the first one's latency is reported
    identify: Callable[[Bodies], bool]
    api_suffix: str  # root + suffix = OpenAI-compatible base URL
    version: Callable[[Bodies], str | None]
    models: Callable[[Bodies], tuple[ModelInfo, ...]]
    enrich: Enricher | None = None


def _dict(bodies: Bodies, path: str) -> dict[str, Any]:
    body = bodies.get(path)
    return body if isinstance(body, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _has_model_list(bodies: Bodies, path: str = "/v1/models") -> bool:
    return isinstance(_dict(bodies, path).get("data"), list)


def openai_models(
    bodies: Bodies, path: str = "/v1/models", ctx_keys: tuple[str, ...] = ()
) -> list[ModelInfo]:
    """``{"data": [{"id": ...}]}``, with the context length under the first of ``ctx_keys`` present."""
    found = []
    for item in _list(_dict(bodies, path).get("data")):
        if isinstance(item, dict) and _str(item.get("id")):
            ctx = next((_int(item[k]) for k in ctx_keys if _int(item.get(k))), None)
            found.append(ModelInfo(item["id"], ctx))
    return found


def _version_at(path: str, key: str = "version") -> Callable[[Bodies], str | None]:
    return lambda bodies: _str(_dict(bodies, path).get(key))


# --- Ollama ---------------------------------------------------------------------------------------------


def _ollama_models(bodies: Bodies) -> tuple[ModelInfo, ...]:
    models = _list(_dict(bodies, "/api/tags").get("models"))
    return tuple(ModelInfo(m["name"]) for m in models if isinstance(m, dict) and _str(m.get("name")))


def _ollama_context(show: Any) -> int | None:
    info = show.get("model_info") if isinstance(show, dict) else None
    if not isinstance(info, dict):
        return None
    return next((_int(v) for k, v in info.items() if k.endswith(".context_length") and _int(v)), None)


async def _ollama_enrich(
    session: aiohttp.ClientSession, root: str, models: tuple[ModelInfo, ...]
) -> tuple[ModelInfo, ...]:
    asks = [fetch(session, f"{root}/api/show", json_body={"model": m.id}) for m in models[:SHOW_LIMIT]]
    answers = await asyncio.gather(*asks)
    contexts = [_ollama_context(a.body) if a and a.ok else None for a in answers]
    enriched = [ModelInfo(m.id, ctx) for m, ctx in zip(models, contexts, strict=False)]
    return (*enriched, *models[SHOW_LIMIT:])


# --- LM Studio, llama.cpp -------------------------------------------------------------------------------


def _lmstudio_models(bodies: Bodies) -> tuple[ModelInfo, ...]:
    native_list = openai_models(bodies, "/api/v0/models", ("max_context_length",))
    native = {m.id: m.context_length for m in native_list}
    return tuple(ModelInfo(m.id, native.get(m.id)) for m in openai_models(bodies))


def _is_llamacpp_props(bodies: Bodies) -> bool:
    props = _dict(bodies, "/props")
    return any(key in props for key in ("default_generation_settings", "build_info", "total_slots"))


def _llamacpp_models(bodies: Bodies) -> tuple[ModelInfo, ...]:
    settings = _dict(bodies, "/props").get("default_generation_settings")
    served_ctx = _int(settings.get("n_ctx")) if isinstance(settings, dict) else None
    found = []
    for item in _list(_dict(bodies, "/v1/models").get("data")):
        if isinstance(item, dict) and _str(item.get("id")):
            meta = item.get("meta")
            trained = _int(meta.get("n_ctx_train")) if isinstance(meta, dict) else None
            found.append(ModelInfo(item["id"], served_ctx or trained))
    return tuple(found)


def _is_openwebui(bodies: Bodies) -> bool:
    config = _dict(bodies, "/api/config")
    return bool(_str(config.get("name"))) and bool(_str(config.get("version")))


RUNTIME_SPECS: Mapping[str, RuntimeSpec] = {
    spec.kind: spec
    for spec in (
        RuntimeSpec(
            kind="ollama",
            paths=("/api/version", "/api/tags"),
            identify=lambda b: _version_at("/api/version")(b) is not None,
            api_suffix="/v1",
            version=_version_at("/api/version"),
            models=_ollama_models,
            enrich=_ollama_enrich,
        ),
        RuntimeSpec(
            kind="lmstudio",
            paths=("/v1/models", "/api/v0/models"),
            identify=_has_model_list,
            api_suffix="/v1",
            version=lambda b: None,
            models=_lmstudio_models,
        ),
        RuntimeSpec(
            kind="llamacpp",
            paths=("/props", "/v1/models"),
            identify=_is_llamacpp_props,
            api_suffix="/v1",
            version=_version_at("/props", "build_info"),
            models=_llamacpp_models,
        ),
        RuntimeSpec(
            kind="vllm",
            paths=("/v1/models", "/version"),
            identify=_has_model_list,
            api_suffix="/v1",
            version=_version_at("/version"),
            models=lambda b: tuple(openai_models(b, ctx_keys=("max_model_len",))),
        ),
        RuntimeSpec(
            kind="localai",
            paths=("/readyz", "/v1/models", "/version"),
            identify=lambda b: "/readyz" in b and _has_model_list(b),
            api_suffix="/v1",
            version=_version_at("/version"),
            models=lambda b: tuple(openai_models(b)),
        ),
        RuntimeSpec(
            kind="openwebui",
            paths=("/api/config",),
            identify=_is_openwebui,
            api_suffix="/api",
            version=_version_at("/api/config"),
            models=lambda b: (),  # its model list needs a user's key
        ),
        RuntimeSpec(
            kind="openai-compatible",
            paths=("/models",),
            identify=lambda b: _has_model_list(b, "/models"),
            api_suffix="",
            version=lambda b: None,
            models=lambda b: tuple(openai_models(b, "/models", ("max_model_len", "context_length"))),
        ),
    )
}


async def probe_runtime(session: aiohttp.ClientSession, spec: RuntimeSpec, root: str) -> RuntimeFinding:
    """Ask one runtime at ``root``; never raises, an unreachable runtime is a finding too."""
    root = root.rstrip("/")
    answers = await asyncio.gather(*(fetch(session, root + path) for path in spec.paths))
    bodies = {path: a.body for path, a in zip(spec.paths, answers, strict=True) if a is not None and a.ok}
    base = root + spec.api_suffix
    if not spec.identify(bodies):
        error = "no answer" if all(a is None for a in answers) else f"not a {spec.kind} API"
        return RuntimeFinding(spec.kind, root, base, reachable=False, error=error)
    models = spec.models(bodies)
    if spec.enrich is not None and models:
        models = await spec.enrich(session, root, models)
    first = answers[0]
    latency = first.latency_ms if first is not None else None
    return RuntimeFinding(spec.kind, root, base, True, spec.version(bodies), models, latency)

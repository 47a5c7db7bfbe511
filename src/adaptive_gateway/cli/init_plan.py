"""What ``init`` adds to the config for the choices made: providers (local runtimes, hosted providers by
key reference, the built-in model) and their models, as plain data.

Merging into an existing config never changes what is there: an entry is added only when its name is
free (``only_if_missing``); a runtime already configured under any name (same base URL) is reused; a
name taken by something else gets a suffix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from adaptive_gateway.discovery import PROVIDER_KEYS, KeyFinding, RuntimeFinding

# discovery runtime kind -> config preset (kinds missing here are not used as providers: Open WebUI
# needs its own API key and is rather a client)
RUNTIME_PRESETS: Mapping[str, str] = {
    "ollama": "ollama-openai",
    "lmstudio": "lmstudio",
    "llamacpp": "llamacpp",
    "vllm": "vllm",
    "localai": "localai",
    "openai-compatible": "openai-compatible",
}

# hosted provider -> models added with its key (names as in accounts/prices.json, so they are priced)
HOSTED_MODELS: Mapping[str, tuple[str, ...]] = {
    "openai": ("gpt-4o-mini", "gpt-4.1"),
    "anthropic": ("claude-sonnet-4-5", "claude-haiku-4-5"),
    "gemini": ("gemini-2.5-flash", "gemini-2.5-pro"),
    "groq": ("llama-3.3-70b-versatile",),
    "mistral": ("mistral-small-latest", "mistral-large-latest"),
    "openrouter": ("openrouter/auto",),
}

BUILTIN = "builtin"
BUILTIN_CHAT = "local/smollm2-135m"
BUILTIN_EMBEDDINGS = "local/minilm-l6"
BUILTIN_MODELS: Mapping[str, str] = {
    BUILTIN_CHAT: "bundled SmolLM2-135M, runs on this machine",
    BUILTIN_EMBEDDINGS: "all-MiniLM-L6-v2 embeddings (384 dims), computed in the gateway",
}


@dataclass(frozen=True)
class Grant:
    """One consent decision to record: ``scope`` such as ``provider:ollama`` or ``env:OPENAI_API_KEY``."""

    scope: str
    what: str


@dataclass
class ConfigPlan:
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: list[Grant] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # models left alone because the name is taken

    @property
    def empty(self) -> bool:
        return not self.providers and not self.models


def _norm(url: str | None) -> str:
    return (url or "").rstrip("/")


class Planner:
    """Plans additions against the providers and models a config already has (plain data)."""

    def __init__(self, existing: Mapping[str, Any]) -> None:
        providers = existing.get("providers")
        models = existing.get("models")
        self.providers: dict[str, Any] = dict(providers) if isinstance(providers, Mapping) else {}
        self.models: set[str] = set(models) if isinstance(models, Mapping) else set()
        self.plan = ConfigPlan()

    def _free_name(self, base: str, suffix: str) -> str:
        taken = set(self.providers) | set(self.plan.providers)
        if base not in taken:
            return base
        for candidate in (f"{base}-{suffix}", *(f"{base}-{i}" for i in range(2, 100))):
            if candidate not in taken:
                return candidate
        raise ValueError(f"no free provider name for {base}")

    def _existing_by_url(self, url: str) -> str | None:
        everything = {**self.providers, **self.plan.providers}
        return next(
            (n for n, p in everything.items() if isinstance(p, Mapping) and _norm(p.get("base_url")) == url),
            None,
        )

    def _add_model(self, name: str, entry: dict[str, Any]) -> None:
        if name in self.models or name in self.plan.models:
            self.plan.skipped.append(name)
            return
        self.plan.models[name] = entry

    def runtime(self, finding: RuntimeFinding) -> None:
        preset = RUNTIME_PRESETS.get(finding.kind)
        if preset is None:
            return
        url = _norm(finding.base_url)
        name = self._existing_by_url(url)
        if name is None:
            port = str(urlsplit(url).port or "")
            name = self._free_name(finding.kind, port)
            self.plan.providers[name] = {"kind": preset, "base_url": url, "locality": "local"}
        self.plan.grants.append(Grant(f"provider:{name}", f"local runtime {finding.kind} at {url}"))
        for model in finding.models:
            deployment: dict[str, Any] = {"provider": name, "model": model.id}
            if model.context_length:
                deployment["context_window"] = model.context_length
            self._add_model(model.id, {"deployments": [deployment]})

    def key(self, finding: KeyFinding) -> None:
        preset = PROVIDER_KEYS[finding.name]
        existing = next(
            (
                n
                for n, p in self.providers.items()
                if isinstance(p, Mapping) and p.get("api_key") == finding.reference
            ),
            None,
        )
        name = existing or self._free_name(preset, finding.name.lower())
        if existing is None:
            self.plan.providers[name] = {"kind": preset, "api_key": finding.reference, "locality": "hosted"}
        self.plan.grants.append(Grant(f"env:{finding.name}", f"{finding.reference} used by reference"))
        self.plan.grants.append(Grant(f"provider:{name}", f"hosted provider {preset}"))
        for model in HOSTED_MODELS.get(preset, ()):
            self._add_model(model, {"deployments": [{"provider": name, "model": model}]})

    def builtin(self, chat: bool, embeddings: bool) -> None:
        if not (chat or embeddings):
            return
        name = next(
            (n for n, p in self.providers.items() if isinstance(p, Mapping) and p.get("kind") == "embedded"),
            None,
        )
        if name is None:
            name = self._free_name(BUILTIN, "local")
            self.plan.providers[name] = {"kind": "embedded", "locality": "local"}
        self.plan.grants.append(Grant(f"provider:{name}", "the built-in local model"))
        for model, wanted in ((BUILTIN_CHAT, chat), (BUILTIN_EMBEDDINGS, embeddings)):
            if wanted:
                entry = {
                    "description": BUILTIN_MODELS[model],
                    "deployments": [{"provider": name, "model": model}],
                }
                self._add_model(model, entry)

    def gguf(self, model: str, path: str) -> None:
        """One embedded provider (one llama.cpp child) per local .gguf file."""
        if any(isinstance(p, Mapping) and p.get("model_path") == path for p in self.providers.values()):
            return
        name = self._free_name("gguf-" + model.rsplit("/", 1)[-1], "local")
        self.plan.providers[name] = {"kind": "embedded", "locality": "local", "model_path": path}
        self.plan.grants.append(Grant(f"provider:{name}", f"local model file {path}"))
        self._add_model(model, {"deployments": [{"provider": name, "model": model}]})


def plan_config(
    existing: Mapping[str, Any],
    runtimes: Sequence[RuntimeFinding],
    keys: Sequence[KeyFinding],
    builtin_chat: bool,
    builtin_embeddings: bool,
    gguf: Sequence[tuple[str, str]] = (),
) -> ConfigPlan:
    """The providers and models to add to a config holding ``existing`` (plain data, may be empty).
    ``gguf``: (public model name, file path) of .gguf models found under the gateway home's models/."""
    planner = Planner(existing)
    for runtime in runtimes:
        planner.runtime(runtime)
    planner.builtin(builtin_chat, builtin_embeddings)
    for name, path in gguf:
        planner.gguf(name, path)
    for key in keys:
        planner.key(key)
    return planner.plan


HEADER = """\
# Adaptive LLM Gateway config, written by `adaptive-llm-gateway init` on {stamp}.
# Edit freely: running init again only adds what it newly finds and keeps your changes and comments.
# Provider keys are referenced as ${{NAME}} and read from the gateway's environment.
"""


def new_config(plan: ConfigPlan, master_hash: str) -> dict[str, Any]:
    """A whole config for a first run (empty sections are left out so later merges stay block style)."""
    data: dict[str, Any] = {
        "version": 1,
        "server": {"host": "127.0.0.1", "port": 4141, "workers": 1},
        "auth": {"mode": "gateway", "master_key_hash": master_hash},
    }
    if plan.providers:
        data["providers"] = plan.providers
    if plan.models:
        data["models"] = plan.models
    return data

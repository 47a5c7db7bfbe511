"""Each provider: reachable, key accepted (one cheap ``GET`` of its model list), latency, and whether it
serves the models the config routes to it; then the clock, compared with hosted providers' ``Date``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from adaptive_gateway.config import Provider
from adaptive_gateway.providers.base import base_headers
from adaptive_gateway.routing.probes import probe_url

from .model import DoctorContext, Finding, Status

# how to start a local runtime that does not answer
START_HINTS: Mapping[str, str] = {
    "ollama": "ollama serve",
    "ollama-openai": "ollama serve",
    "lmstudio": "lms server start",
    "llamacpp": "llama-server -m <model.gguf> --port 8080",
    "vllm": "vllm serve <model>",
    "localai": "local-ai run",
}
PULL_HINTS: Mapping[str, str] = {"ollama": "ollama pull {model}", "ollama-openai": "ollama pull {model}"}
EXTRA_HEADERS: Mapping[str, Mapping[str, str]] = {"anthropic": {"anthropic-version": "2023-06-01"}}
SKEW_WARN = 30.0  # seconds
SKEW_FAIL = 300.0  # request signatures and token expiry start failing around here


def _ids(key: str, field: str, strip: str = "") -> Callable[[Any], set[str]]:
    def extract(body: Any) -> set[str]:
        items = body.get(key) if isinstance(body, dict) else None
        if not isinstance(items, list):
            return set()
        return {str(i[field]).removeprefix(strip) for i in items if isinstance(i, dict) and field in i}

    return extract


# adapter -> the model names in its model list
MODEL_LISTS: Mapping[str, Callable[[Any], set[str]]] = {
    "openai": _ids("data", "id"),
    "anthropic": _ids("data", "id"),
    "gemini": _ids("models", "name", "models/"),
    "ollama": _ids("models", "name"),
}


@dataclass(frozen=True)
class Probe:
    provider: Provider
    finding: Finding
    date: datetime | None = None  # the provider's Date header
    local: datetime | None = None  # our clock when the answer arrived


def _key_ref(ctx: DoctorContext, name: str) -> str:
    providers = ctx.raw.get("providers")
    entry = providers.get(name) if isinstance(providers, dict) else None
    ref = entry.get("api_key") if isinstance(entry, dict) else None
    return str(ref) if ref else f"providers.{name}.api_key"


def _unreachable(ctx: DoctorContext, p: Provider, url: str, exc: Exception) -> Finding:
    hint = START_HINTS.get(p.kind) if p.locality == "local" else None
    fix = hint or f"check providers.{p.name}.base_url in {ctx.config_path} and the network"
    return Finding(
        f"provider:{p.name}",
        "fail",
        f"{p.name} ({p.kind}) unreachable at {url}: {type(exc).__name__} {exc}".strip(),
        "requests fail over to other deployments, or fail when there is none",
        fix,
    )


def _served(ctx: DoctorContext, p: Provider, body: Any) -> Finding | None:
    """A warning when the provider's list lacks models the config routes to it."""
    listed = MODEL_LISTS.get(p.adapter, MODEL_LISTS["openai"])(body)
    if not listed or ctx.compiled is None:
        return None
    wanted = {
        d.upstream_model
        for m in ctx.compiled.models.values()
        for d in m.deployments
        if d.provider.name == p.name
    }
    missing = sorted(wanted - listed)
    if not missing:
        return None
    pull = PULL_HINTS.get(p.kind)
    return Finding(
        f"provider:{p.name}",
        "warn",
        f"{p.name} does not list model(s) the config routes to it: {', '.join(missing)}",
        "requests for them fail at this provider",
        " && ".join(pull.format(model=m) for m in missing)
        if pull
        else f"fix the model names in {ctx.config_path}",
    )


def _answered(ctx: DoctorContext, p: Provider, resp: httpx.Response, ms: float) -> Finding:
    check = f"provider:{p.name}"
    if resp.status_code in (401, 403):
        ref = _key_ref(ctx, p.name)
        return Finding(
            check,
            "fail",
            f"{p.name} rejects its key (HTTP {resp.status_code}, key {ref})",
            "every request routed to it fails",
            f"set a valid key in {ref.strip('${}')} (export it, or in {ctx.state / 'env'} for the service)",
        )
    if resp.status_code >= 400:
        return Finding(
            check,
            "warn",
            f"{p.name} answered HTTP {resp.status_code} to GET {resp.request.url.path}",
            "it may be the wrong base URL or an upstream problem",
            f"check providers.{p.name}.base_url in {ctx.config_path}",
        )
    try:
        body = resp.json()
    except ValueError:
        body = None
    served = _served(ctx, p, body)
    return served or Finding(
        check, "ok", f"{p.name} ({p.kind}, {p.locality}): reachable, key accepted, {ms:.0f} ms"
    )


async def _probe(ctx: DoctorContext, client: httpx.AsyncClient, p: Provider) -> Probe:
    url = probe_url(p)
    headers = {**base_headers(p, None), **EXTRA_HEADERS.get(p.adapter, {})}
    started = time.perf_counter()
    try:
        resp = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        return Probe(p, _unreachable(ctx, p, url, exc))
    local = datetime.now(UTC)
    ms = (time.perf_counter() - started) * 1000
    try:
        date = parsedate_to_datetime(resp.headers["date"]) if "date" in resp.headers else None
    except (TypeError, ValueError):
        date = None
    return Probe(p, _answered(ctx, p, resp, ms), date, local)


def clock_finding(probes: list[Probe]) -> Finding:
    """Compare this machine's clock with the ``Date`` of hosted providers (local ones share our clock)."""
    dated = [
        p for p in probes if p.date is not None and p.local is not None and p.provider.locality == "hosted"
    ]
    if not dated:
        return Finding("clock", "skip", "no hosted provider answered with a Date header to compare with")
    skews = [((p.date - p.local).total_seconds(), p.provider.name) for p in dated if p.date and p.local]
    skew, name = min(skews, key=lambda s: abs(s[0]))
    text = f"this clock is {abs(skew):.0f} s {'behind' if skew > 0 else 'ahead of'} {name}"
    if abs(skew) < SKEW_WARN:
        return Finding("clock", "ok", f"clock in sync with {name} (within {SKEW_WARN:.0f} s)")
    fix = "sudo timedatectl set-ntp true   (macOS: sudo sntp -sS time.apple.com)"
    status: Status = "fail" if abs(skew) >= SKEW_FAIL else "warn"
    return Finding(
        "clock", status, text, "signed requests, key expiry and logs go wrong with a skewed clock", fix
    )


async def check_providers(ctx: DoctorContext) -> list[Finding]:
    if ctx.compiled is None:
        return [Finding("providers", "skip", "config not valid")]
    providers = [p for p in ctx.compiled.providers.values() if p.adapter != "embedded" and p.base_url]
    if not providers:
        return [Finding("providers", "skip", "no provider besides the built-in model")]
    async with httpx.AsyncClient(timeout=ctx.timeout, follow_redirects=True) as client:
        probes = await asyncio.gather(*(_probe(ctx, client, p) for p in providers))
    return [p.finding for p in probes] + [clock_finding(list(probes))]

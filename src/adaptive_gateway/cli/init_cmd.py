"""`init`: create the gateway home, a master key (stored hashed; shown once and kept in a 0600 file)
and a valid config with the local OpenAI-compatible runtimes that answer on their usual ports."""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import typer
import yaml
from rich.console import Console

from adaptive_gateway.config import ConfigError, gateway_home, hash_key, parse_config

console = Console(stderr=True)

# runtime preset -> its OpenAI-compatible models URL on the usual local port
LOCAL_RUNTIMES: dict[str, str] = {
    "ollama-openai": "http://127.0.0.1:11434/v1/models",
    "lmstudio": "http://127.0.0.1:1234/v1/models",
    "llamacpp": "http://127.0.0.1:8080/v1/models",
    "vllm": "http://127.0.0.1:8000/v1/models",
}


@dataclass(slots=True)
class Found:
    preset: str
    base_url: str
    models: list[str]


async def _probe(session: aiohttp.ClientSession, preset: str, url: str) -> Found | None:
    try:
        async with session.get(url) as resp:
            if resp.status != 200:
                return None
            data = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    models = [m["id"] for m in data.get("data", []) if isinstance(m, dict) and isinstance(m.get("id"), str)]
    return Found(preset, url.rsplit("/models", 1)[0], models)


async def probe_local_runtimes(targets: dict[str, str] | None = None, timeout: float = 0.8) -> list[Found]:
    """Ask each runtime's ``/v1/models`` in parallel; the ones that answer with models."""
    targets = LOCAL_RUNTIMES if targets is None else targets
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        results = await asyncio.gather(*(_probe(session, p, u) for p, u in targets.items()))
    seen: set[str] = set()
    out = []
    for found in results:
        if found and found.models and found.base_url not in seen:
            seen.add(found.base_url)
            out.append(found)
    return out


def embedded_available() -> tuple[bool, bool]:
    """(the bundled chat model is installed, the MiniLM embedder's packages are installed)."""
    try:
        from adaptive_gateway.embedded import availability, bundled_model
    except ImportError:
        return False, False
    avail = availability()
    return bundled_model() is not None and not avail.runtime_missing, not avail.embedder_missing


def build_config(
    found: list[Found], master_hash: str, embedded: bool, embeddings: bool = False
) -> dict[str, Any]:
    providers: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for f in found:
        name = f.preset.removesuffix("-openai")
        providers[name] = {"kind": f.preset, "base_url": f.base_url, "locality": "local"}
        for m in f.models:
            models.setdefault(m, {"deployments": [{"provider": name, "model": m}]})
    if embedded:
        providers["builtin"] = {"kind": "embedded", "locality": "local"}
        models["local/smollm2-135m"] = {
            "description": "bundled SmolLM2-135M, runs on this machine",
            "deployments": [{"provider": "builtin", "model": "local/smollm2-135m"}],
        }
    if embeddings:
        providers.setdefault("builtin", {"kind": "embedded", "locality": "local"})
        models["local/minilm-l6"] = {
            "description": "all-MiniLM-L6-v2 embeddings (384 dims), computed in the gateway",
            "deployments": [{"provider": "builtin", "model": "local/minilm-l6"}],
        }
    return {
        "version": 1,
        "server": {"host": "127.0.0.1", "port": 4141, "workers": 1},
        "auth": {"mode": "gateway", "master_key_hash": master_hash},
        "providers": providers,
        "models": models,
        "aliases": {},
    }


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new 0600 file atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def init(
    yes: bool = typer.Option(False, "--yes", "-y", help="Accept the defaults without asking."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Where to write the config."),
    force: bool = typer.Option(False, "--force", help="Replace an existing config (a backup is kept)."),
) -> None:
    """Set up the gateway home: master key, config with the local runtimes found on this machine."""
    home = gateway_home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = (
        config.expanduser()
        if config
        else Path(os.environ.get("ADAPTIVE_GATEWAY_CONFIG") or home / "config.yaml")
    )
    if path.exists() and not force:
        console.print(f"[green]✓[/green] config exists at {path}; kept as it is (use --force to regenerate)")
        return
    if not yes and not typer.confirm(f"Create a gateway config at {path}?", default=True):
        raise typer.Exit(1)
    found = asyncio.run(probe_local_runtimes())
    key = "sk-agw-" + secrets.token_urlsafe(32)
    chat_model, embedder = embedded_available()
    data = build_config(found, hash_key(key), chat_model, embedder)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"# Adaptive LLM Gateway config, written by `adaptive-llm-gateway init` on {stamp}.\n"
    text += yaml.safe_dump(data, sort_keys=False)
    try:
        parse_config(text)
    except ConfigError as exc:  # a bug here must never leave a broken file behind
        console.print(f"[red]generated config is invalid (a bug, please report): {exc}[/red]")
        raise typer.Exit(1) from None
    if path.exists():
        os.replace(path, path.with_name(path.name + f".bak-{datetime.now(UTC):%Y%m%d%H%M%S}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, text)
    key_file = home / "admin_key"
    write_private(key_file, key + "\n")
    console.print(f"[green]✓[/green] wrote {path}")
    for f in found:
        console.print(f"  found {f.preset} at {f.base_url}: {', '.join(f.models[:5])}")
    if chat_model:
        console.print("  built-in local model: local/smollm2-135m (runs on this machine, offline)")
    elif not found:
        console.print(
            "  no local runtime answered and the built-in model is not installed: run `make install`"
        )
    console.print(f"[green]✓[/green] master key saved to {key_file} (mode 0600); shown once here:")
    typer.echo(key)

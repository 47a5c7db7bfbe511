"""AI clients on this machine: their binaries on PATH and their config files under the user's home."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .model import ClientFinding, ConfigFileFinding, RuntimeFinding

_VSCODE_DIRS = (".config/Code/User", "Library/Application Support/Code/User", "AppData/Roaming/Code/User")


@dataclass(frozen=True)
class ClientSpec:
    name: str
    binaries: tuple[str, ...]
    paths: tuple[str, ...]  # relative to home; a directory counts when it exists
    runtime_kind: str | None = None  # also "found" when this runtime answered


CLIENT_SPECS: tuple[ClientSpec, ...] = (
    ClientSpec("claude-code", ("claude",), (".claude/settings.json", ".claude.json")),
    ClientSpec("codex", ("codex",), (".codex/config.toml",)),
    ClientSpec("cursor", ("cursor",), (".cursor/mcp.json",)),
    ClientSpec(
        "vscode",
        ("code",),
        tuple(f"{d}/{f}" for d in _VSCODE_DIRS for f in ("settings.json", "mcp.json")),
    ),
    ClientSpec("continue", (), (".continue/config.yaml", ".continue/config.json")),
    ClientSpec("n8n", ("n8n",), (".n8n",)),
    ClientSpec("open-webui", ("open-webui",), (), runtime_kind="openwebui"),
)


def _which(binaries: tuple[str, ...], env: Mapping[str, str]) -> str | None:
    search_path = env.get("PATH", "")
    return next((hit for b in binaries if (hit := shutil.which(b, path=search_path))), None)


def find_client(
    spec: ClientSpec, home: Path, env: Mapping[str, str], runtimes: tuple[RuntimeFinding, ...]
) -> ClientFinding:
    files = tuple(ConfigFileFinding(str(home / p), (home / p).exists()) for p in spec.paths)
    binary = _which(spec.binaries, env)
    serving = any(r.reachable and r.kind == spec.runtime_kind for r in runtimes)
    found = serving or binary is not None or any(f.exists for f in files)
    return ClientFinding(spec.name, found, files, binary)


def find_clients(
    home: Path, env: Mapping[str, str], runtimes: tuple[RuntimeFinding, ...]
) -> tuple[ClientFinding, ...]:
    return tuple(find_client(spec, home, env, runtimes) for spec in CLIENT_SPECS)

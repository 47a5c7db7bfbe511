"""What discovery looks for (``DiscoveryTargets``) and what it reports (``DiscoveryReport``).

Every dataclass here is safe to print or serialise: provider keys are carried only as a masked value and
a ``${NAME}`` reference, never in full.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LOCAL = "http://127.0.0.1"


def default_runtime_targets() -> dict[str, tuple[str, ...]]:
    """Runtime kind -> root URLs to probe (no ``/v1``; each runtime knows its own API paths)."""
    return {
        "ollama": (f"{LOCAL}:11434",),
        "lmstudio": (f"{LOCAL}:1234",),
        "llamacpp": (f"{LOCAL}:8080",),
        "vllm": (f"{LOCAL}:8000",),
        "localai": (f"{LOCAL}:8080",),
        "openwebui": (f"{LOCAL}:3000", f"{LOCAL}:8080"),
    }


@dataclass(frozen=True)
class DiscoveryTargets:
    """Where each probe looks. Tests pass fake ports, a fake socket path and a temporary cwd."""

    runtimes: dict[str, tuple[str, ...]] = field(default_factory=default_runtime_targets)
    # OpenAI-compatible base URLs added by the user, e.g. "http://127.0.0.1:9000/v1".
    openai_compatible: tuple[str, ...] = ()
    gitea: tuple[str, ...] = (f"{LOCAL}:3000",)
    docker_socket: Path | None = Path("/var/run/docker.sock")
    git_binary: str | None = "git"
    # "~/" is the (possibly fake) home, relative paths are resolved against ``cwd``.
    dotenv_files: tuple[str, ...] = ("./.env", "~/.env")
    cwd: Path | None = None
    request_timeout_s: float = 0.8
    # Hard ceiling for any single probe, follow-up requests included.
    probe_budget_s: float = 2.2


@dataclass(frozen=True)
class ModelInfo:
    id: str
    context_length: int | None = None


@dataclass(frozen=True)
class RuntimeFinding:
    kind: str
    probe_url: str
    base_url: str  # the OpenAI-compatible base, e.g. http://127.0.0.1:11434/v1
    reachable: bool
    version: str | None = None
    models: tuple[ModelInfo, ...] = ()
    latency_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class KeyFinding:
    name: str
    provider: str
    source: str  # "env" or "dotenv:<path>"
    masked: str
    reference: str  # "${NAME}": how config files refer to it


@dataclass(frozen=True)
class ConfigFileFinding:
    path: str
    exists: bool


@dataclass(frozen=True)
class ClientFinding:
    name: str
    found: bool
    config_files: tuple[ConfigFileFinding, ...] = ()
    binary: str | None = None


@dataclass(frozen=True)
class ToolFinding:
    name: str
    found: bool
    version: str | None = None
    location: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ContainerFinding:
    id: str
    name: str
    image: str
    kind: str
    state: str
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class DiscoveryReport:
    runtimes: tuple[RuntimeFinding, ...]
    keys: tuple[KeyFinding, ...]
    clients: tuple[ClientFinding, ...]
    tools: tuple[ToolFinding, ...]
    containers: tuple[ContainerFinding, ...]
    elapsed_ms: float

    def reachable_runtimes(self) -> tuple[RuntimeFinding, ...]:
        return tuple(r for r in self.runtimes if r.reachable)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (tuples become lists)."""
        return asdict(self)

"""What every client integration module provides: a ``Target`` whose ``plan`` turns an
``IntegrationContext`` into file changes (for the safe writer) and instructions (for the user)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .writer import FileChange

DEFAULT_GATEWAY_URL = "http://127.0.0.1:4141"  # the config schema's default host and port
KEY_ENV = "ADAPTIVE_GATEWAY_KEY"
MCP_SERVER_NAME = "adaptive"
PROVIDER_NAME = "Adaptive LLM Gateway"


@dataclass(frozen=True)
class IntegrationContext:
    home: Path
    gateway_url: str = DEFAULT_GATEWAY_URL
    mcp: bool = False
    # The plain gateway key, only when the user explicitly agreed to have it written into client files.
    inline_key: str | None = field(default=None, repr=False)
    model: str = "auto"

    @property
    def root(self) -> str:
        return self.gateway_url.rstrip("/")

    @property
    def api_base(self) -> str:
        return f"{self.root}/v1"

    @property
    def mcp_url(self) -> str:
        return f"{self.root}/mcp"

    @property
    def key_reference(self) -> str:
        return "${" + KEY_ENV + "}"


@dataclass(frozen=True)
class IntegrationPlan:
    changes: tuple[FileChange, ...] = ()
    instructions: str = ""


@dataclass(frozen=True)
class Target:
    name: str
    summary: str
    plan: Callable[[IntegrationContext], IntegrationPlan]


def export_hint() -> str:
    return f"Make the gateway key available to the client: export {KEY_ENV}=<your gateway key>"

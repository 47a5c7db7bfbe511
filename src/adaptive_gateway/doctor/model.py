"""What the doctor reports: findings (status, what it means, the exact fix) and the context every check
reads (paths, environment, the config loaded once)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from adaptive_gateway.cli.process import local_url
from adaptive_gateway.config import CompiledConfig, ConfigError, GatewayConfig, compile_config, parse_config

Status = Literal["ok", "warn", "fail", "skip"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "fail", "skip")


@dataclass(frozen=True)
class Repair:
    """A safe automatic fix ``doctor --fix`` may apply after confirmation; ``apply`` returns what it did."""

    description: str
    apply: Callable[[], str]


@dataclass(frozen=True)
class Finding:
    check: str  # e.g. "config", "permissions:config", "provider:ollama", "client:codex"
    status: Status
    summary: str  # what was found, one line
    meaning: str = ""  # what it means for the user
    fix: str | None = None  # the exact command to run
    repair: Repair | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "summary": self.summary,
            "meaning": self.meaning,
            "fix": self.fix,
            "auto_fix": self.repair.description if self.repair else None,
        }


@dataclass
class DoctorContext:
    """Where to look. ``state`` is the gateway home; ``client_home`` the home whose clients are checked."""

    state: Path
    config_path: Path
    client_home: Path
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    timeout: float = 3.0
    cli: tuple[str, ...] = ()  # how to run the CLI for repairs (init, start)
    raw: dict[str, Any] = field(default_factory=dict)  # the config as plain YAML data
    config: GatewayConfig | None = None
    compiled: CompiledConfig | None = None
    config_errors: list[str] = field(default_factory=list)
    text: str | None = None

    def load(self) -> DoctorContext:
        """Read and validate the config once (errors are kept for the config check)."""
        try:
            self.text = self.config_path.read_text(encoding="utf-8")
        except OSError:
            return self
        try:
            data = yaml.safe_load(self.text)
            self.raw = data if isinstance(data, dict) else {}
        except yaml.YAMLError:
            self.raw = {}
        try:
            self.config = parse_config(self.text, self.env, source=str(self.config_path))
            self.compiled = compile_config(self.config, self.env, self.text)
        except ConfigError as exc:
            self.config_errors = exc.errors
        return self

    @property
    def gateway_url(self) -> str:
        server = self.config.server if self.config else None
        return local_url(server.host, server.port) if server else local_url("127.0.0.1", 4141)

    def admin_key(self) -> str | None:
        """The master key from ``<home>/admin_key`` (or the env override), when readable."""
        key = self.env.get("ADAPTIVE_GATEWAY_MASTER_KEY")
        if key:
            return key
        try:
            return (self.state / "admin_key").read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def home_flag(self) -> str:
        """`` --home H`` when the clients' home is not the user's own (so fixes can be pasted as is)."""
        return "" if self.client_home == Path.home() else f" --home {self.client_home}"


Check = Callable[[DoctorContext], Awaitable[list[Finding]]]

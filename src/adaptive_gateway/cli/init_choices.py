"""What the user agrees to during ``init``: asked one item at a time (interactive), the safe defaults
(``--yes``: local runtimes and the built-in model, never a hosted key or a client), or read from an
answers file (``--answers``) for scripts.

Answers file (every field optional; unknown fields are errors)::

    runtimes: all             # or none, or a list of kinds (ollama, lmstudio, ...) and base URLs
    builtin: true             # the built-in local model (when installed)
    keys: [OPENAI_API_KEY]    # provider keys to use by reference, ${OPENAI_API_KEY}
    clients: [codex]          # clients to point at the gateway (integrate)
    mcp: false                # also register the gateway's MCP server in those clients
    gateway_url: null         # the URL clients use (default: from the config)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import typer
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from adaptive_gateway.config.loader import format_path
from adaptive_gateway.discovery import PROVIDER_KEYS, DiscoveryReport, KeyFinding, RuntimeFinding
from adaptive_gateway.integrations import TARGETS

from .init_plan import RUNTIME_PRESETS


class AnswersError(Exception):
    """The answers file cannot be used; ``errors`` name each problem by its path."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


class Answers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    runtimes: Literal["all", "none"] | list[str] = "all"
    builtin: bool = True
    keys: list[str] = []
    clients: list[str] = []
    mcp: bool = False
    gateway_url: str | None = None

    @field_validator("keys")
    @classmethod
    def _known_keys(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in PROVIDER_KEYS]
        if unknown:
            raise ValueError(f"unknown key name(s) {unknown}; known: {', '.join(PROVIDER_KEYS)}")
        return names

    @field_validator("clients")
    @classmethod
    def _known_clients(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in TARGETS]
        if unknown:
            raise ValueError(f"unknown client(s) {unknown}; known: {', '.join(TARGETS)}")
        return names


def load_answers(path: Path) -> Answers:
    """Read and validate an answers file; :class:`AnswersError` names every problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AnswersError([f"{path}: {exc}"]) from None
    if not isinstance(data, dict):
        raise AnswersError([f"{path}: expected a mapping of answers"])
    try:
        return Answers.model_validate(data)
    except ValidationError as exc:
        raise AnswersError([f"{format_path(list(e['loc']))}: {e['msg']}" for e in exc.errors()]) from None


@dataclass
class Choices:
    runtimes: list[RuntimeFinding] = field(default_factory=list)
    keys: list[KeyFinding] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)
    builtin: bool = False
    mcp: bool = False
    gateway_url: str | None = None
    declined: list[str] = field(default_factory=list)  # scopes the user explicitly said no to
    warnings: list[str] = field(default_factory=list)
    how: str = ""  # recorded as the reason of each ledger entry


def usable_runtimes(report: DiscoveryReport) -> list[RuntimeFinding]:
    """Runtimes that answered, serve models, and can be a provider."""
    return [r for r in report.reachable_runtimes() if r.models and r.kind in RUNTIME_PRESETS]


def safe_defaults(report: DiscoveryReport, builtin_available: bool) -> Choices:
    """``--yes``: every local runtime found and the built-in model; no hosted key, no client."""
    return Choices(usable_runtimes(report), builtin=builtin_available, how="init --yes (safe defaults)")


def _matches(finding: RuntimeFinding, selector: str) -> bool:
    url = selector.rstrip("/")
    return selector == finding.kind or url in (finding.base_url.rstrip("/"), finding.probe_url.rstrip("/"))


def from_answers(answers: Answers, report: DiscoveryReport, builtin_available: bool, source: Path) -> Choices:
    """The choices an answers file makes; selectors that match nothing become warnings."""
    found = usable_runtimes(report)
    choices = Choices(
        builtin=answers.builtin and builtin_available, mcp=answers.mcp, how=f"init --answers {source}"
    )
    if answers.runtimes == "all":
        choices.runtimes = found
    elif isinstance(answers.runtimes, list):
        choices.runtimes = [r for r in found if any(_matches(r, s) for s in answers.runtimes)]
        for selector in answers.runtimes:
            if not any(_matches(r, selector) for r in found):
                choices.warnings.append(f"runtime {selector!r}: not found on this machine; skipped")
    if answers.builtin and not builtin_available:
        choices.warnings.append("builtin: the built-in model is not installed; skipped (run `make install`)")
    keys = {k.name: k for k in report.keys}
    for name in answers.keys:
        if name in keys:
            choices.keys.append(keys[name])
        else:
            choices.warnings.append(f"key {name}: not set in the environment or a .env file; skipped")
    choices.clients = list(answers.clients)
    choices.gateway_url = answers.gateway_url
    return choices


class Asker(Protocol):
    def __call__(self, question: str, default: bool) -> bool: ...


def plain_asker(question: str, default: bool) -> bool:
    """Asks on stdin (used when it is not a terminal, e.g. piped answers)."""
    return typer.confirm(question, default=default)


def questionary_asker(question: str, default: bool) -> bool:
    import questionary

    answer = questionary.confirm(question, default=default).ask()
    if answer is None:  # Ctrl-C
        raise typer.Abort()
    return bool(answer)


def default_asker() -> Asker:
    """questionary on a terminal, plain prompts otherwise."""
    return questionary_asker if sys.stdin.isatty() and sys.stdout.isatty() else plain_asker


def _runtime_question(r: RuntimeFinding) -> str:
    names = ", ".join(m.id for m in r.models[:4]) + (
        f" and {len(r.models) - 4} more" if len(r.models) > 4 else ""
    )
    return f"Use {r.kind} at {r.base_url} ({names})?"


def interactively(
    report: DiscoveryReport, builtin_available: bool, ask: Asker, client_names: Sequence[str]
) -> Choices:
    """Ask about each finding: runtimes and the built-in model default to yes, keys and clients to no."""
    choices = Choices(how="init: approved interactively")
    for runtime in usable_runtimes(report):
        if ask(_runtime_question(runtime), True):
            choices.runtimes.append(runtime)
    if builtin_available:
        choices.builtin = ask(
            "Use the built-in local model (local/smollm2-135m, runs on this machine)?", True
        )
    for key in report.keys:
        question = (
            f"Use {key.name} ({key.masked}, from {key.source}) for {PROVIDER_KEYS[key.name]}? It is written "
            f"as {key.reference}, never its value; requests to its models go to a hosted provider."
        )
        if ask(question, False):
            choices.keys.append(key)
        else:
            choices.declined.append(f"env:{key.name}")
    for name in client_names:
        if ask(f"Point {name} at the gateway? (you will see the exact change first)", False):
            choices.clients.append(name)
        else:
            choices.declined.append(f"client:{name}")
    if choices.clients:
        choices.mcp = ask("Also register the gateway's MCP server (shared memory, tools) in them?", False)
    return choices

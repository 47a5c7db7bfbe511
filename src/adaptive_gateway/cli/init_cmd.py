"""``init``: see what AI is on this machine, agree item by item what the gateway may use, and write the
config (a master key stored hashed, shown once and kept in a 0600 file).

Three ways to agree: interactive questions (Rich + questionary), ``--yes`` (safe defaults: local
runtimes and the built-in model, never a hosted key or a client) and ``--answers FILE`` for scripts
(see ``init_choices``). Every decision is recorded in the consent ledger (``<home>/consent.jsonl``).
Re-running init merges what is new into the existing config and never changes what is there.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console

from adaptive_gateway.cli.config_file import (
    ConfigFileError,
    backup_copy,
    edit_config,
    validate_text,
    write_new,
)
from adaptive_gateway.cli.init_choices import (
    Answers,
    AnswersError,
    Asker,
    Choices,
    default_asker,
    from_answers,
    interactively,
    load_answers,
    safe_defaults,
)
from adaptive_gateway.cli.init_plan import HEADER, ConfigPlan, new_config, plan_config
from adaptive_gateway.cli.setup_cmds import (
    LEDGER_FILE,
    configured_gateway_url,
    findings_table,
    ledger_recorder,
    runtime_table,
    show_diff,
)
from adaptive_gateway.config import ConfigError, hash_key
from adaptive_gateway.discovery import DiscoveryReport, DiscoveryTargets, discover
from adaptive_gateway.discovery.model import default_runtime_targets
from adaptive_gateway.integrations import (
    TARGETS,
    ConfigWriter,
    IntegrationContext,
    SetValue,
    WriterError,
    get_target,
    state_dir,
)
from adaptive_gateway.ledger.consent import Action, ConsentLedger

PROBE_ENV = "ADAPTIVE_GATEWAY_PROBE"  # "kind=url,kind=url": probe only these runtimes (tests, scripts)


def _console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def embedded_available() -> tuple[bool, bool]:
    """(the bundled chat model is installed, the MiniLM embedder's packages are installed)."""
    try:
        from adaptive_gateway.embedded import availability, bundled_model
    except ImportError:
        return False, False
    avail = availability()
    return bundled_model() is not None and not avail.runtime_missing, not avail.embedder_missing


def parse_probes(specs: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``kind=url`` items -> the runtime targets to probe instead of the usual local ports."""
    known = default_runtime_targets()
    out: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        kind, sep, url = spec.partition("=")
        if not sep or kind not in known or not url.startswith(("http://", "https://")):
            raise typer.BadParameter(f"{spec!r}: expected KIND=URL with KIND one of {', '.join(known)}")
        out[kind] = (*out.get(kind, ()), url.rstrip("/"))
    return out


def discovery_targets(probes: Sequence[str], urls: Sequence[str], env: Mapping[str, str]) -> DiscoveryTargets:
    """Runtimes (``--probe``, else ``$ADAPTIVE_GATEWAY_PROBE``, else the usual ports) and extra URLs;
    init does not need git, Gitea or Docker, so those probes are off."""
    specs = list(probes) or [s for s in env.get(PROBE_ENV, "").split(",") if s.strip()]
    runtimes = parse_probes(specs) if specs else default_runtime_targets()
    return DiscoveryTargets(
        runtimes=runtimes, openai_compatible=tuple(urls), gitea=(), docker_socket=None, git_binary=None
    )


def _existing(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        _console().print(f"[red]✗ {path} cannot be read as YAML ({exc}); fix it first, nothing changed[/red]")
        raise typer.Exit(1) from None
    if not isinstance(data, dict):
        _console().print(f"[red]✗ {path} is not a mapping; fix it first, nothing changed[/red]")
        raise typer.Exit(1)
    return data


def _new_key() -> str:
    return "sk-agw-" + secrets.token_urlsafe(32)


def _write_key(state: Path, key: str) -> Path:
    key_file = state / "admin_key"
    tmp = key_file.with_name(".admin_key.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    os.replace(tmp, key_file)
    return key_file


def _fail(message: str, errors: Sequence[str] = ()) -> typer.Exit:
    _console().print(f"[red]✗ {message}[/red]")
    for line in errors:
        _console().print(f"  ✗ {line}")
    return typer.Exit(1)


def _create(path: Path, plan: ConfigPlan, state: Path, ask: Asker | None) -> str | None:
    """Write a first config; the new master key, or None when the user declined."""
    key = _new_key()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = HEADER.format(stamp=stamp) + yaml.safe_dump(new_config(plan, hash_key(key)), sort_keys=False)
    try:
        validate_text(text, str(path))
    except ConfigError as exc:  # a bug here must never leave a broken file behind
        raise _fail("the generated config is invalid (a bug, please report)", exc.errors) from None
    if ask is not None and not ask(f"Write the gateway config to {path}?", True):
        return None
    _write_key(state, key)
    try:
        write_new(path, text)
    except ConfigFileError as exc:
        raise _fail(str(exc)) from None
    return key


def _merge(path: Path, plan: ConfigPlan, state: Path, ask: Asker | None) -> tuple[str, str | None]:
    """Add the plan to an existing config; (status, a new master key when the config had none)."""
    existing = _existing(path)
    edits: list[SetValue] = []
    auth = existing.get("auth")
    key = None
    if not (isinstance(auth, dict) and auth.get("master_key_hash")):
        key = _new_key()
        edits.append(SetValue(("auth", "master_key_hash"), hash_key(key)))
    try:
        result = edit_config(
            path,
            edits,
            add={"providers": plan.providers, "models": plan.models},
            show=show_diff if ask is not None else None,
            confirm=(lambda q: ask(q, True)) if ask is not None else None,
            backups=state / "backups" / "config",
        )
    except ConfigFileError as exc:
        raise _fail(str(exc), exc.errors) from None
    if result.status == "written" and key is not None:
        _write_key(state, key)
    if result.backup is not None:
        _console().print(f"  previous config kept at {result.backup}", markup=False)
    return result.status, key if result.status == "written" else None


def _record(state: Path, plan: ConfigPlan, choices: Choices) -> None:
    """Grant what was accepted, revoke what was explicitly declined; repeats are not re-recorded."""
    ledger = ConsentLedger(state / LEDGER_FILE)
    latest = {e.scope: e.action for e in ledger.entries()}
    wanted: list[tuple[Action, str, str]] = [
        ("grant", g.scope, f"{choices.how}: {g.what}") for g in plan.grants
    ]
    wanted += [("revoke", scope, f"{choices.how}: declined") for scope in choices.declined]
    for action, scope, reason in wanted:
        if latest.get(scope) != action:
            ledger.append("user", action, scope, reason)
            latest[scope] = action


def _integrate(state: Path, client_home: Path, choices: Choices, ask: Asker | None) -> bool:
    """Point each chosen client at the gateway through the safe writer; False when one failed."""
    writer = ConfigWriter(state, record=ledger_recorder(state))
    url = choices.gateway_url or configured_gateway_url(state, os.environ)
    ok = True
    for name in choices.clients:
        try:
            target = get_target(name)
            plan = target.plan(IntegrationContext(client_home, url, choices.mcp))
            result = writer.write(
                name,
                plan.changes,
                yes=ask is None,
                confirm=(lambda q: ask(q, False)) if ask is not None else None,
                show=show_diff,
            )
        except WriterError as exc:
            _console().print(f"[red]✗ {name}: {exc}[/red]", markup=True)
            ok = False
            continue
        messages = {"written": "now uses the gateway", "unchanged": "already uses the gateway"}
        _console().print(f"  {name}: {messages.get(result.status, 'left as it is')}")
        if result.status != "declined" and plan.instructions:
            _console().print(plan.instructions, markup=False)
    return ok


def _choose(
    answers: Answers | None, answers_path: Path | None, yes: bool, report: DiscoveryReport, client_home: Path
) -> tuple[Choices, Asker | None]:
    chat, _ = embedded_available()
    if answers is not None and answers_path is not None:
        return from_answers(answers, report, chat, answers_path), None
    if yes:
        return safe_defaults(report, chat), None
    out = _console()
    out.print(runtime_table(report) if report.reachable_runtimes() else "No local runtime answered.")
    if report.keys or any(c.found for c in report.clients):
        out.print(findings_table(report))
    found = [c.name for c in report.clients if c.found and c.name in TARGETS]
    ask = default_asker()
    return interactively(report, chat, ask, found), ask


def _next_steps(state: Path, key: str | None, choices: Choices, wrote_clients: bool) -> None:
    out = _console()
    out.print("[bold]Next steps[/bold]")
    out.print("  adaptive-llm-gateway start --background     # serve on the configured address")
    out.print(f'  export ADAPTIVE_GATEWAY_KEY="$(cat {state / "admin_key"})"   # the key clients send')
    out.print("  adaptive-llm-gateway doctor                  # check everything")
    if not wrote_clients:
        out.print(f"  adaptive-llm-gateway integrate <client>      # one of: {', '.join(TARGETS)}")
    for k in choices.keys:
        if k.source != "env":
            out.print(
                f"  [yellow]{k.name} was found in {k.source.removeprefix('dotenv:')}, not in the environment:"
                f" export it before `start`, or put it in {state / 'env'} for the service[/yellow]"
            )
    if key is not None:
        out.print(f"[green]✓[/green] master key saved to {state / 'admin_key'} (mode 0600); shown once here:")
        typer.echo(key)


def init(
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Safe defaults: local runtimes + built-in model only."
    ),
    answers: Path | None = typer.Option(
        None, "--answers", help="YAML answers for scripts (see docs/setup.md)."
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Where the config is (default: in home)."
    ),
    force: bool = typer.Option(False, "--force", help="Start a new config (the old one is backed up)."),
    home: Path | None = typer.Option(None, "--home", help="Home folder to look in (default: yours)."),
    probes: list[str] = typer.Option([], "--probe", help="Probe only this runtime: KIND=URL (repeatable)."),
    urls: list[str] = typer.Option([], "--url", help="Also probe this OpenAI-compatible base URL."),
) -> None:
    """Find what is on this machine, agree what the gateway may use, write or update its config."""
    client_home = home or Path.home()
    state = state_dir(client_home, os.environ)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = (
        config.expanduser()
        if config
        else Path(os.environ.get("ADAPTIVE_GATEWAY_CONFIG") or state / "config.yaml")
    )
    try:
        parsed = load_answers(answers) if answers else None
    except AnswersError as exc:
        raise _fail(f"{answers}: cannot use these answers", exc.errors) from None
    report = asyncio.run(discover(discovery_targets(probes, urls, os.environ), home=client_home))
    choices, ask = _choose(parsed, answers, yes, report, client_home)
    for warning in choices.warnings:
        _console().print(f"[yellow]! {warning}[/yellow]")
    if force and path.exists():
        _console().print(f"  old config kept at {backup_copy(path, state / 'backups' / 'config')}")
        path.unlink()
    plan, key = _write_config(path, state, choices, ask)
    _record(state, plan, choices)
    ok = _integrate(state, client_home, choices, ask)
    _next_steps(state, key, choices, bool(choices.clients))
    if not ok:
        raise typer.Exit(1)


def _gguf_models() -> list[tuple[str, str]]:
    """.gguf files under <home>/models/ (served like the built-in model, one child each)."""
    try:
        from adaptive_gateway.embedded import find_models
    except ImportError:
        return []
    return [(m.name, str(m.path)) for m in find_models() if m.source != "bundled"]


def _write_config(
    path: Path, state: Path, choices: Choices, ask: Asker | None
) -> tuple[ConfigPlan, str | None]:
    """Plan the additions, then create or merge the config; (the plan, a new master key or None)."""
    existing = _existing(path) if path.exists() else {}
    _, embedder = embedded_available()
    plan = plan_config(
        existing,
        choices.runtimes,
        choices.keys,
        choices.builtin,
        choices.builtin and embedder,
        _gguf_models(),
    )
    if path.exists():
        status, key = _merge(path, plan, state, ask)
    else:
        key = _create(path, plan, state, ask)
        status = "declined" if key is None else "written"
    if status == "declined":
        raise _fail("nothing was written")
    _report_config(path, status, plan)
    return plan, key


def _report_config(path: Path, status: str, plan: ConfigPlan) -> None:
    out = _console()
    verb = {"written": "wrote", "unchanged": "nothing new to add to"}[status]
    out.print(f"[green]✓[/green] {verb} {path}")
    for name, provider in plan.providers.items():
        out.print(f"  + provider {name} ({provider['kind']})", markup=False)
    if plan.models:
        out.print(f"  + models: {', '.join(plan.models)}", markup=False)
    if plan.empty and status == "written":
        out.print("  (no provider found: start a local runtime, or re-run init with a provider key)")

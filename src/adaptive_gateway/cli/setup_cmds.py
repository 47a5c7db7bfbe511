"""Setup commands: ``discover`` (what AI is on this machine) and ``integrate`` (wire a client to the
gateway through the safe config writer: diff, consent, backup, atomic write, verify, undo)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from adaptive_gateway.discovery import DiscoveryReport, DiscoveryTargets, discover
from adaptive_gateway.integrations import (
    DEFAULT_GATEWAY_URL,
    KEY_ENV,
    TARGETS,
    ConfigWriter,
    IntegrationContext,
    Target,
    WriterError,
    get_target,
    state_dir,
)
from adaptive_gateway.integrations.writer import Recorder, WriteResult
from adaptive_gateway.ledger.consent import Action, ConsentLedger

LEDGER_FILE = "consent.jsonl"
_DIFF_STYLES = {"+++": "bold", "---": "bold", "@@": "cyan", "+": "green", "-": "red"}

HomeOpt = typer.Option(None, "--home", help="Home folder to look in (default: yours).")


def _stdout() -> Console:
    return Console(soft_wrap=True, highlight=False)


def _stderr() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


# --- discover -------------------------------------------------------------------------------------------


def runtime_table(report: DiscoveryReport) -> Table:
    table = Table(title="Local runtimes", title_justify="left")
    for column in ("runtime", "base URL", "version", "models", "latency"):
        table.add_column(column, overflow="fold")
    for r in report.reachable_runtimes():
        models = ", ".join(
            m.id + (f" ({m.context_length:,} ctx)" if m.context_length else "") for m in r.models
        )
        table.add_row(r.kind, r.base_url, r.version or "", models or "-", f"{r.latency_ms or 0:.0f} ms")
    return table


def findings_table(report: DiscoveryReport) -> Table:
    table = Table(title="Keys, clients and tools", title_justify="left")
    for column in ("kind", "name", "details"):
        table.add_column(column, overflow="fold")
    for k in report.keys:
        table.add_row("provider key", k.name, f"{k.masked} from {k.source}; use as {k.reference}")
    for c in (c for c in report.clients if c.found):
        files = [f.path for f in c.config_files if f.exists]
        table.add_row("client", c.name, ", ".join(files) or c.binary or "running")
    for t in (t for t in report.tools if t.found):
        table.add_row("tool", t.name, f"{t.version or ''} {t.location or ''}".strip())
    for d in report.containers:
        table.add_row("container", d.name, f"{d.image} ({d.kind}, {d.state}) ports {list(d.ports)}")
    return table


def discover_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
    urls: list[str] = typer.Option(
        [], "--url", help="Also probe this OpenAI-compatible base URL (repeatable)."
    ),
    home: Path | None = HomeOpt,
) -> None:
    """Find local runtimes, provider keys (masked), AI clients, git, Gitea and Docker. Read-only."""
    report = asyncio.run(discover(DiscoveryTargets(openai_compatible=tuple(urls)), home=home))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    out = _stdout()
    if report.reachable_runtimes():
        out.print(runtime_table(report))
    else:
        out.print("No local runtime answered on the usual ports.")
    out.print(findings_table(report))
    out.print(f"[dim]Looked in {report.elapsed_ms / 1000:.1f} s. Next: adaptive-llm-gateway init[/dim]")


# --- integrate ------------------------------------------------------------------------------------------


# the safe writer's actions -> the consent ledger's (integrating a client grants it, undo revokes)
_LEDGER_ACTIONS: dict[str, Action] = {"integrate": "grant", "integrate.undo": "revoke"}


def ledger_recorder(state: Path) -> Recorder:
    """Records each file the writer changes in the consent ledger (``<state>/consent.jsonl``) as a grant
    (integrate) or revocation (undo) of scope ``client:<target>``; the file is named in the reason."""
    ledger = ConsentLedger(state / LEDGER_FILE)

    def record(action: str, scope: str, reason: str) -> None:
        target, _, path = scope.partition(":")
        ledger.append(
            "user", _LEDGER_ACTIONS.get(action, "grant"), f"client:{target}", f"{action} {path}: {reason}"
        )

    return record


def configured_gateway_url(state: Path, env: Mapping[str, str]) -> str:
    """``$ADAPTIVE_GATEWAY_URL``, else the server address in the gateway's config, else the default."""
    if env.get("ADAPTIVE_GATEWAY_URL"):
        return env["ADAPTIVE_GATEWAY_URL"]
    try:
        server = (yaml.safe_load((state / "config.yaml").read_text(encoding="utf-8")) or {}).get(
            "server"
        ) or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return DEFAULT_GATEWAY_URL
    host = str(server.get("host", "127.0.0.1")).replace("0.0.0.0", "127.0.0.1")
    return f"http://{host}:{server.get('port', 4141)}"


KEY_PLACEHOLDER = f"<value of ${KEY_ENV}>"


def _diff_printer(secret: str | None) -> Callable[[str], None]:
    """Prints diffs in colour, with ``secret`` (the plain key, when consented) never shown."""
    return lambda diff: show_diff(diff.replace(secret, KEY_PLACEHOLDER) if secret else diff)


def show_diff(diff: str) -> None:
    out = _stdout()
    for line in diff.splitlines():
        style = next((s for prefix, s in _DIFF_STYLES.items() if line.startswith(prefix)), "")
        out.print(Text(line, style=style))


def _list(writer: ConfigWriter) -> None:
    integrations = writer.list_integrations()
    if not integrations:
        _stderr().print("Nothing is integrated yet.")
        return
    table = Table(title="Integrations (newest last)", title_justify="left")
    for column in ("target", "when", "gateway", "file", "status"):
        table.add_column(column, overflow="fold")
    for manifest in integrations:
        for entry in manifest.files:
            table.add_row(
                manifest.target,
                manifest.created[:16].replace("T", " "),
                manifest.note,
                entry.path,
                entry.status(),
            )
    _stdout().print(table)


def _undo(writer: ConfigWriter, target: str, force: bool) -> None:
    manifest = writer.undo(target, force=force)
    for entry in manifest.files:
        verb = "restored" if entry.existed else "removed (it did not exist before)"
        _stderr().print(f"[green]✓[/green] {entry.path} {verb}")


def _ask(question: str) -> bool:
    return typer.confirm(question, default=False)


def _target(name: str | None) -> Target:
    if name is None:
        raise typer.BadParameter(f"name a target: {', '.join(TARGETS)}", param_hint="TARGET")
    try:
        return get_target(name)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="TARGET") from None


def _inline_key(consented: bool, yes: bool, dry_run: bool, env: Mapping[str, str]) -> str | None:
    """The plain key, only after explicit consent (a placeholder in a dry run, which never asks)."""
    if not consented:
        return None
    if dry_run:
        return KEY_PLACEHOLDER
    key = env.get(KEY_ENV)
    if not key:
        raise WriterError(f"--inline-key needs the key in ${KEY_ENV}")
    question = "Write the gateway key in plain text into the client's config file?"
    if not (yes or typer.confirm(question, default=False)):
        raise WriterError("the key was not written; nothing changed")
    return key


def _report(result: WriteResult, target: str, instructions: str) -> None:
    err = _stderr()
    messages = {
        "unchanged": f"[green]✓[/green] {target} already points at the gateway; nothing to change.",
        "declined": "Nothing changed.",
        "written": f"[green]✓[/green] {target} now uses the gateway. Undo: "
        f"adaptive-llm-gateway integrate {target} --undo",
    }
    err.print(messages.get(result.status, ""))
    if result.manifest is not None:
        err.print(f"  backup: {result.manifest.location}", markup=False)
    if instructions and result.status != "declined":
        err.print(instructions, markup=False)


def integrate_cmd(
    target: str | None = typer.Argument(None, help=f"One of: {', '.join(TARGETS)}."),
    gateway_url: str | None = typer.Option(None, help="Gateway URL (default: from its config, else 4141)."),
    mcp: bool = typer.Option(False, "--mcp", help="Also register the gateway's MCP server."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the diff only."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    undo: bool = typer.Option(False, "--undo", help="Restore the files as they were before integrate."),
    list_: bool = typer.Option(False, "--list", help="Show what is integrated."),
    force: bool = typer.Option(False, "--force", help="With --undo: restore even over later edits."),
    inline_key: bool = typer.Option(
        False, "--inline-key", help=f"Write ${KEY_ENV}'s value into the file instead of a reference."
    ),
    home: Path | None = HomeOpt,
) -> None:
    """Point an AI client at the gateway: shows the diff, asks, backs up, writes atomically; reversible."""
    home = home or Path.home()
    state = state_dir(home, os.environ)
    writer = ConfigWriter(state, record=None if dry_run else ledger_recorder(state))
    if list_:
        return _list(writer)
    chosen = _target(target)
    try:
        if undo:
            return _undo(writer, chosen.name, force)
        url = gateway_url or configured_gateway_url(state, os.environ)
        key = _inline_key(inline_key, yes, dry_run, os.environ)
        plan = chosen.plan(IntegrationContext(home, url, mcp, key))
        result = writer.write(
            chosen.name,
            plan.changes,
            yes=yes,
            confirm=_ask,
            show=_diff_printer(key),
            dry_run=dry_run,
            note=url,
        )
    except WriterError as exc:
        _stderr().print(Text(f"✗ {exc}", style="red"))
        raise typer.Exit(1) from None
    if not dry_run:
        _report(result, chosen.name, plan.instructions)


def register(app: typer.Typer) -> None:
    app.command("discover")(discover_cmd)
    app.command("integrate")(integrate_cmd)

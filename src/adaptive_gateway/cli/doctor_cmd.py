"""``doctor``: check the whole setup and say, for every problem, what it means and the command that
fixes it. ``--json`` for scripts; the exit code is 1 when any check fails; ``--fix`` applies the safe
fixes (permissions, the gateway home, a first config, starting the gateway, migrations) after asking."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from adaptive_gateway.cli.service_files import cli_command
from adaptive_gateway.doctor import DoctorContext, Finding, apply_repairs, diagnose
from adaptive_gateway.integrations import state_dir

ICONS = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red"), "skip": ("-", "dim")}
MAX_ROUNDS = 3  # a repair can enable another (init, then start)


def _context(config: Path | None, home: Path | None, timeout: float) -> DoctorContext:
    client_home = home or Path.home()
    state = state_dir(client_home, os.environ)
    path = (
        config.expanduser()
        if config
        else Path(os.environ.get("ADAPTIVE_GATEWAY_CONFIG") or state / "config.yaml")
    )
    return DoctorContext(state, path, client_home, dict(os.environ), timeout, cli_command())


def _print(findings: Sequence[Finding], verbose: bool) -> None:
    out = Console(highlight=False, soft_wrap=True)
    for f in findings:
        icon, style = ICONS[f.status]
        line = Text(f"{icon} ", style=style)
        line.append(f"{f.check}: ", style="bold")
        line.append(f.summary)
        out.print(line)
        if f.status in ("warn", "fail") or verbose:
            if f.meaning:
                out.print(Text(f"    means: {f.meaning}", style="dim"))
            if f.fix:
                out.print(Text(f"    fix:   {f.fix}", style="cyan"))
    counts = {s: sum(f.status == s for f in findings) for s in ICONS}
    out.print(", ".join(f"{n} {s}" for s, n in counts.items() if n))


def _fix(ctx: DoctorContext, findings: list[Finding], yes: bool) -> list[Finding]:
    """Offer the repairs, apply the approved ones, check again; the findings after the last round."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    applied: set[str] = set()
    for _ in range(MAX_ROUNDS):
        todo = [f for f in findings if f.repair is not None and f.repair.description not in applied]
        if not todo:
            break
        err.print("Safe fixes available:")
        for f in todo:
            err.print(f"  - {f.repair.description if f.repair else ''}  ({f.check})", markup=False)
        if not (yes or typer.confirm("Apply them?", default=False, err=True)):
            break
        apply_repairs(todo, lambda msg: err.print(msg, markup=False))
        applied |= {f.repair.description for f in todo if f.repair}
        findings = diagnose(
            DoctorContext(ctx.state, ctx.config_path, ctx.client_home, ctx.env, ctx.timeout, ctx.cli)
        )
    return findings


def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
    fix: bool = typer.Option(False, "--fix", help="Apply the safe fixes (after asking)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="With --fix: do not ask."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also explain the checks that pass."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Config file (default: in the gateway home)."
    ),
    home: Path | None = typer.Option(
        None, "--home", help="Home folder whose clients are checked (default: yours)."
    ),
    timeout: float = typer.Option(3.0, help="Seconds per network check."),
) -> None:
    """Check config, files, the running gateway, store, Redis, providers, clients, clock and disk."""
    ctx = _context(config, home, timeout)
    findings = diagnose(ctx)
    if fix:
        if not as_json:
            _print(findings, verbose)
        findings = _fix(ctx, findings, yes)
    if as_json:
        failed = any(f.status == "fail" for f in findings)
        typer.echo(json.dumps({"ok": not failed, "findings": [f.to_dict() for f in findings]}, indent=2))
    else:
        _print(findings, verbose)
    if any(f.status == "fail" for f in findings):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(doctor)

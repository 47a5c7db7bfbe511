"""``mode offline | online | status``: offline, the gateway uses only ``locality: local`` providers.

The mode is the config's top-level ``mode`` field, written through the round-trip editor (comments and
formatting stay). A gateway started by this CLI is told to reload at once (SIGHUP); any other picks the
change up through its config file watcher.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console

from adaptive_gateway.cli import process
from adaptive_gateway.cli.config_file import ConfigFileError, edit_config
from adaptive_gateway.cli.core_cmds import ConfigOpt, resolve_config_path
from adaptive_gateway.config import ConfigError, compile_config, gateway_home, load_config
from adaptive_gateway.integrations import SetValue

EFFECTS = {
    "offline": "only local providers are used; requests for hosted-only models are refused",
    "online": "every configured provider may be used",
}


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def set_mode(mode: str, config: Path | None) -> None:
    path = resolve_config_path(config)
    if not path.exists():
        _err().print(f"[red]No config at {path}.[/red] Run: adaptive-llm-gateway init")
        raise typer.Exit(2)
    try:
        result = edit_config(path, [SetValue(("mode",), mode)])
    except ConfigFileError as exc:
        _err().print(f"[red]✗ {exc}[/red]")
        for line in exc.errors:
            _err().print(f"  ✗ {line}")
        raise typer.Exit(1) from None
    verb = "already" if result.status == "unchanged" else "now"
    _err().print(f"[green]✓[/green] {verb} {mode}: {EFFECTS[mode]} ({path})")
    proc = process.reload_running(gateway_home())
    if proc is not None:
        _err().print(f"  the running gateway (pid {proc.pid}, {proc.url}) reloads its config now")
    else:
        _err().print("  a running gateway picks it up from the file within a second or two")


def offline(config: Path | None = ConfigOpt) -> None:
    """Use only local providers (nothing leaves this machine)."""
    set_mode("offline", config)


def online(config: Path | None = ConfigOpt) -> None:
    """Use every configured provider again."""
    set_mode("online", config)


def _running_mode(url: str, home: Path) -> str | None:
    key_file = home / "admin_key"
    if not key_file.exists():
        return None
    key = key_file.read_text(encoding="utf-8").strip()
    try:
        resp = httpx.get(f"{url}/health/ready", headers={"Authorization": f"Bearer {key}"}, timeout=2)
        detail = resp.json()["checks"]["mode"]["detail"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return str(detail)


def status(config: Path | None = ConfigOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show the configured mode, the models usable in it and what the running gateway applies."""
    from adaptive_gateway.server.mode_ext import local_models

    path = resolve_config_path(config)
    try:
        compiled = compile_config(load_config(path))
    except ConfigError as exc:
        _err().print(f"[red]✗ {exc}[/red]")
        raise typer.Exit(1) from None
    mode = compiled.source.mode
    local = local_models(compiled)
    hosted_only = sorted(set(compiled.models) - set(local))
    proc = process.running(gateway_home())
    report: dict[str, Any] = {
        "mode": mode,
        "config": str(path),
        "local_models": local,
        "hosted_only_models": hosted_only,
        "running": proc.url if proc else None,
        "running_mode": _running_mode(proc.url, gateway_home()) if proc else None,
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"mode: {mode} ({EFFECTS[mode]})")
    typer.echo(f"local models: {', '.join(local) or 'none'}")
    if hosted_only:
        unusable = " (refused while offline)" if mode == "offline" else ""
        typer.echo(f"hosted-only models: {', '.join(hosted_only)}{unusable}")
    if proc:
        typer.echo(f"running gateway {proc.url}: {report['running_mode'] or 'mode not reported'}")


def register(app: typer.Typer) -> None:
    mode_app = typer.Typer(help="Offline (local providers only) or online.", no_args_is_help=True)
    mode_app.command("offline")(offline)
    mode_app.command("online")(online)
    mode_app.command("status")(status)
    app.add_typer(mode_app, name="mode")

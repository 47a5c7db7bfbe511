"""Running the gateway: ``start --background`` (detached, logging to ``<home>/gateway.log``), ``stop``,
``status``, and ``service install | uninstall`` (a systemd user unit or a launchd agent, written but not
started: the commands that enable it are printed).

``start`` itself lives in ``core_cmds``; it calls :func:`start_background` and :func:`foreground_pidfile`.
"""

from __future__ import annotations

import difflib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console

from adaptive_gateway.cli import process
from adaptive_gateway.cli.core_cmds import ConfigOpt, resolve_config_path
from adaptive_gateway.cli.service_files import SERVICE_KINDS, ServiceSpec, cli_command, default_kinds
from adaptive_gateway.config import ConfigError, gateway_home, load_config

LOG_ENV = "ADAPTIVE_GATEWAY_LOG_FILE"  # set for a background child: the log its pidfile names
READY_TIMEOUT = 60.0
NOT_RUNNING = 3  # `status` exit code, as LSB init scripts use


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def foreground_pidfile(config: Path, host: str, port: int) -> Iterator[None]:
    """Hold ``<home>/gateway.pid`` for this process while the gateway serves."""
    home = gateway_home()
    proc = process.GatewayProcess(
        os.getpid(), process.local_url(host, port), str(config), os.environ.get(LOG_ENV), time.time()
    )
    process.write_pidfile(home, proc)
    try:
        yield
    finally:
        process.remove_pidfile(home, os.getpid())


def already_running() -> process.GatewayProcess | None:
    """The gateway this CLI started, if it still runs (a stale pidfile is removed)."""
    home = gateway_home()
    proc = process.running(home)
    if proc is None and process.read_pidfile(home) is not None:
        process.remove_pidfile(home)
    return proc


def _open_log(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)  # request logs may name keys' prefixes and models
    return fd


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_background(config: Path, host: str, port: int, workers: int) -> int:
    """Start ``start --foreground`` detached (new session, output to the log file) and wait until it
    answers ``/health/live``; 0 when it does, 1 (with the log's tail) when it exits or times out."""
    home = gateway_home()
    log = process.logfile(home)
    fd = _open_log(log)
    args = [*cli_command(), "start", "--foreground", "--config", str(config)]
    args += ["--host", host, "--port", str(port), "--workers", str(workers)]
    env = {**os.environ, "ADAPTIVE_GATEWAY_HOME": str(home), LOG_ENV: str(log)}
    try:
        child = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, env=env, start_new_session=True
        )
    finally:
        os.close(fd)
    url = process.local_url(host, port)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            _err().print(f"[red]✗ the gateway exited (status {child.returncode}).[/red] Its log ({log}):")
            _err().print(_tail(log), markup=False)
            return 1
        proc = process.read_pidfile(home)
        if proc is not None and proc.pid == child.pid and process.answers(url, timeout=0.5):
            _err().print(f"[green]✓[/green] gateway running in the background: {url} (pid {child.pid})")
            _err().print(f"  log: {log}\n  stop: adaptive-llm-gateway stop")
            return 0
        time.sleep(0.1)
    _err().print(f"[red]✗ the gateway did not answer within {READY_TIMEOUT:.0f} s; see {log}[/red]")
    return 1


def stop(
    timeout: float = typer.Option(30.0, help="Seconds to wait for in-flight requests before killing it."),
) -> None:
    """Stop the gateway started with `start` (graceful: in-flight requests finish first)."""
    home = gateway_home()
    proc = already_running()
    if proc is None:
        _err().print("The gateway is not running (no live pidfile).")
        return
    os.kill(proc.pid, signal.SIGTERM)
    if not process.wait_gone(proc.pid, timeout):
        _err().print(f"[yellow]still running after {timeout:.0f} s; killing pid {proc.pid}[/yellow]")
        os.kill(proc.pid, signal.SIGKILL)
        process.wait_gone(proc.pid, 5)
    process.remove_pidfile(home, proc.pid)
    _err().print(f"[green]✓[/green] stopped the gateway (pid {proc.pid}, {proc.url})")


def _configured_url(config: Path | None) -> str | None:
    try:
        server = load_config(resolve_config_path(config)).server
    except ConfigError:
        return None
    return process.local_url(server.host, server.port)


def status(config: Path | None = ConfigOpt, as_json: bool = typer.Option(False, "--json")) -> None:
    """Is the gateway running, and how healthy is each provider deployment? Exit 0 when it runs, 3 when
    it does not."""
    from adaptive_gateway.cli.routing_cmds import print_health, provider_health

    proc = already_running()
    url = proc.url if proc else _configured_url(config)
    answering = bool(url) and process.answers(url or "")
    health = provider_health(url or "") if answering else None
    report = {
        "running": proc is not None or answering,
        "pid": proc.pid if proc else None,
        "url": url,
        "answering": answering,
        "config": proc.config if proc else str(resolve_config_path(config)),
        "log": proc.log if proc else None,
        "uptime_seconds": round(time.time() - proc.started, 1) if proc else None,
        "providers": health,
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    elif proc is not None:
        state = "answering" if answering else "NOT answering /health/live"
        typer.echo(f"running: pid {proc.pid}, {proc.url} ({state}), up {report['uptime_seconds']} s")
        typer.echo(f"config: {proc.config}" + (f"\nlog: {proc.log}" if proc.log else ""))
    elif answering:
        typer.echo(f"a gateway answers at {url} (not started by this CLI: no pidfile)")
    else:
        typer.echo("not running. Start it: adaptive-llm-gateway start --background")
    if health is not None and not as_json:
        print_health(health)
    if not report["running"]:
        raise typer.Exit(NOT_RUNNING)


def _kinds(target: str) -> tuple[str, ...]:
    if target == "auto":
        return default_kinds()
    if target == "all":
        return tuple(SERVICE_KINDS)
    if target not in SERVICE_KINDS:
        raise typer.BadParameter(f"one of: auto, all, {', '.join(SERVICE_KINDS)}", param_hint="--target")
    return (target,)


TargetOpt = typer.Option("auto", "--target", help="systemd, launchd, all, or auto (this platform's).")


def _write_service(path: Path, text: str, yes: bool) -> bool:
    """Write one service file; an existing different one is shown as a diff and replaced only on yes."""
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if old == text:
            _err().print(f"[green]✓[/green] {path} is up to date")
            return False
        diff = difflib.unified_diff(old.splitlines(True), text.splitlines(True), str(path), str(path))
        _err().print("".join(diff), markup=False)
        if not (yes or typer.confirm(f"Replace {path}?", default=False)):
            _err().print(f"kept {path} as it is")
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    _err().print(f"[green]✓[/green] wrote {path}")
    return True


def service_install(
    config: Path | None = ConfigOpt, target: str = TargetOpt, yes: bool = typer.Option(False, "--yes", "-y")
) -> None:
    """Write a systemd user unit / launchd agent that runs the gateway at login (not started here)."""
    path = resolve_config_path(config).absolute()
    if not path.exists():
        _err().print(f"[yellow]note: no config at {path} yet; run adaptive-llm-gateway init[/yellow]")
    spec = ServiceSpec(cli_command(), path, gateway_home().absolute())
    for name in _kinds(target):
        kind = SERVICE_KINDS[name]
        file = kind.path(Path.home())
        _write_service(file, kind.render(spec), yes)
        _err().print(f"  enable and start it ({name}):")
        for command in kind.enable(file):
            _err().print(f"    {command}", markup=False)
    _err().print(f"  provider keys the config references go in {spec.env_file} (NAME=value lines, mode 600)")


def service_uninstall(target: str = TargetOpt) -> None:
    """Remove the service files written by `service install` (disable them first)."""
    for name in _kinds(target):
        kind = SERVICE_KINDS[name]
        file = kind.path(Path.home())
        if not file.exists():
            _err().print(f"no {name} service file at {file}")
            continue
        file.unlink()
        _err().print(f"[green]✓[/green] removed {file}; if it was enabled, also run:")
        for command in kind.disable(file):
            _err().print(f"    {command}", markup=False)


def register(app: typer.Typer) -> None:
    app.command()(stop)
    app.command()(status)
    service_app = typer.Typer(
        help="Run the gateway as a user service (systemd / launchd).", no_args_is_help=True
    )
    service_app.command("install")(service_install)
    service_app.command("uninstall")(service_uninstall)
    app.add_typer(service_app, name="service")

"""Core commands: start, init, config check, version."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import typer
from rich.console import Console

from adaptive_gateway import __version__
from adaptive_gateway.config import ConfigError, default_config_path, gateway_home, load_config

console = Console(stderr=True)
ConfigOpt = typer.Option(
    None,
    "--config",
    "-c",
    help="Config file (default: $ADAPTIVE_GATEWAY_CONFIG or ~/.adaptive-llm-gateway/config.yaml).",
)


def resolve_config_path(config: Path | None) -> Path:
    return config.expanduser() if config else default_config_path()


def gateway_url(url: str | None, config: Path | None) -> str:
    """The running gateway's base URL: ``url`` when given, else from the config's server section."""
    if url:
        return url.rstrip("/")
    try:
        server = load_config(resolve_config_path(config)).server
    except ConfigError:
        return "http://127.0.0.1:4141"
    host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host
    return f"http://{host}:{server.port}"


def gateway_key(key: str | None) -> str | None:
    """The key a CLI command calls the gateway with: ``--key``, $ADAPTIVE_GATEWAY_KEY,
    $ADAPTIVE_GATEWAY_MASTER_KEY, else the admin_key file."""
    for candidate in (
        key,
        os.environ.get("ADAPTIVE_GATEWAY_KEY"),
        os.environ.get("ADAPTIVE_GATEWAY_MASTER_KEY"),
    ):
        if candidate:
            return candidate
    key_file = gateway_home() / "admin_key"
    return key_file.read_text(encoding="utf-8").strip() if key_file.is_file() else None


def version() -> None:
    """Print the version."""
    typer.echo(f"adaptive-llm-gateway {__version__}")


def config_check(config: Path | None = ConfigOpt) -> None:
    """Validate the config file; list every error with its path and exit non-zero when any."""
    path = resolve_config_path(config)
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        console.print(f"[red]{path}: {len(exc.errors)} error(s)[/red]")
        for err in exc.errors:
            console.print(f"  [red]✗[/red] {err}", highlight=False)
        raise typer.Exit(1) from None
    console.print(
        f"[green]✓[/green] {path} is valid: {len(cfg.providers)} provider(s), "
        f"{len(cfg.models)} model(s), {len(cfg.aliases)} alias(es)"
    )


def start(
    config: Path | None = ConfigOpt,
    host: str | None = typer.Option(None, help="Listen address (default from config: 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Listen port (default from config: 4141)."),
    workers: int | None = typer.Option(None, help="Worker processes (default from config: 1)."),
    no_migrate: bool = typer.Option(False, "--no-migrate", help="Do not apply database migrations at start."),
    background: bool = typer.Option(
        False, "--background", "-b", help="Run detached: log in <home>/gateway.log, stop with `stop`."
    ),
    foreground: bool = typer.Option(False, "--foreground", help="Serve in this terminal (the default)."),
) -> None:
    """Serve the gateway (in the foreground unless --background)."""
    from adaptive_gateway.cli.service_cmds import already_running, foreground_pidfile, start_background
    from adaptive_gateway.server.runner import check_port, serve

    path = resolve_config_path(config)
    if not path.exists():
        console.print(
            f"[red]No config at {path}.[/red] Run [bold]adaptive-llm-gateway init --yes[/bold] first."
        )
        raise typer.Exit(2)
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        console.print(f"[red]{path} is invalid:[/red]")
        for err in exc.errors:
            console.print(f"  ✗ {err}", highlight=False)
        raise typer.Exit(1) from None
    host = host or cfg.server.host
    port = port or cfg.server.port
    workers = workers or cfg.server.workers
    if no_migrate:
        os.environ["ADAPTIVE_GATEWAY_NO_MIGRATE"] = "1"
    running = already_running()
    if running is not None:
        console.print(f"[red]The gateway is already running[/red] (pid {running.pid}, {running.url}).")
        raise typer.Exit(1)
    problem = check_port(host, port)
    if problem:
        console.print(f"[red]{problem}[/red] (is another gateway running? try --port)")
        raise typer.Exit(1)
    if background and not foreground:
        raise typer.Exit(start_background(path.absolute(), host, port, workers))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ["ADAPTIVE_GATEWAY_CONFIG"] = str(path)
    if not no_migrate:  # in a child process: the serving processes never import Alembic
        from adaptive_gateway.store.premigrate import upgrade_in_child

        try:
            upgrade_in_child(cfg.store.url)
        except RuntimeError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    _banner(path, host, port, workers, [*cfg.models, *cfg.aliases])
    with foreground_pidfile(path.absolute(), host, port):
        code = serve(path, host, port, workers, cfg.server.drain_seconds)
    raise typer.Exit(code)


def _banner(path: Path, host: str, port: int, workers: int, models: list[str]) -> None:
    url = f"http://{host}:{port}"
    key_file = gateway_home() / "admin_key"
    key_ref = f"$(cat '{key_file}')" if key_file.exists() else "$ADAPTIVE_GATEWAY_MASTER_KEY"
    model = models[0] if models else "MODEL"
    console.print(
        f"[bold green]Adaptive LLM Gateway {__version__}[/bold green] serving on [bold]{url}[/bold] "
        f"({workers} worker{'s' if workers > 1 else ''})"
    )
    console.print(f"  config:    {path}")
    console.print(f"  admin key: {key_file if key_file.exists() else '$ADAPTIVE_GATEWAY_MASTER_KEY'}")
    console.print(f"  models:    {', '.join(models) or 'none configured yet (edit the config)'}")
    console.print("  try:", highlight=False)
    console.print(
        f'    curl -s {url}/v1/chat/completions -H "Authorization: Bearer {key_ref}" '
        f"-H 'Content-Type: application/json' "
        f'-d \'{{"model":"{model}","messages":[{{"role":"user","content":"Say hello"}}]}}\'',
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    from adaptive_gateway.cli.init_cmd import init

    app.command()(start)
    app.command()(init)
    app.command()(version)
    config_app = typer.Typer(help="Inspect and validate the config file.", no_args_is_help=True)
    config_app.command("check")(config_check)
    app.add_typer(config_app, name="config")

"""`adaptive-llm-gateway mcp`: the MCP server on stdin/stdout (for clients that launch a command).

Default: an in-process gateway built from the config file, acting with the master principal. With
``--url``: a bridge to a running gateway's ``/mcp``, authenticated with a gateway key (``--key``,
``$ADAPTIVE_GATEWAY_KEY``, ``$ADAPTIVE_GATEWAY_MASTER_KEY`` or the ``admin_key`` file). Nothing but
MCP messages is written to stdout; logs go to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from adaptive_gateway.cli.core_cmds import ConfigOpt, resolve_config_path

if TYPE_CHECKING:
    from adaptive_gateway.config import CompiledConfig

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url", help="Bridge to a running gateway (e.g. http://127.0.0.1:4141) instead of in-process."
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--key", help="Gateway key for --url (default: $ADAPTIVE_GATEWAY_KEY, then the admin key)."),
]
AgentOpt = Annotated[
    str | None,
    typer.Option("--agent", envvar="ADAPTIVE_GATEWAY_AGENT", help="Agent name for memory and handoffs."),
]


def _bridge_key(key: str | None) -> str:
    from adaptive_gateway.config import gateway_home

    for candidate in (
        key,
        os.environ.get("ADAPTIVE_GATEWAY_KEY"),
        os.environ.get("ADAPTIVE_GATEWAY_MASTER_KEY"),
    ):
        if candidate:
            return candidate
    key_file = gateway_home() / "admin_key"
    if key_file.is_file():
        return key_file.read_text(encoding="utf-8").strip()
    typer.echo("error: --url needs a gateway key (--key or $ADAPTIVE_GATEWAY_KEY)", err=True)
    raise typer.Exit(2)


def _load(path: Path) -> tuple[CompiledConfig, Path | None]:
    """The compiled config (an empty one when the file does not exist yet) and the path to watch."""
    from adaptive_gateway.config import GatewayConfig, compile_config, load_config

    if not path.is_file():
        return compile_config(GatewayConfig()), None
    return compile_config(load_config(path), text=path.read_text(encoding="utf-8")), path


async def _serve_in_process(compiled: CompiledConfig, watch: Path | None, agent: str | None) -> None:
    from adaptive_gateway.mcp import Caller, McpServices, build_server
    from adaptive_gateway.mcp.stdio import run_stdio
    from adaptive_gateway.pipeline.context import Principal
    from adaptive_gateway.server.app import build_app
    from adaptive_gateway.server.mcp_ext import runtime_of

    app = build_app(compiled, watch)
    runtime = runtime_of(app)
    caller = Caller(Principal("master", "master", "stdio"), transport="stdio", default_agent=agent)
    await app.startup()
    services = await runtime.ensure() if runtime is not None else McpServices(app.gateway)
    if runtime is None:
        await services.start()
    try:
        await run_stdio(build_server(services, caller))
    finally:
        if runtime is None:
            await services.stop()
        await app.shutdown()


def mcp(
    config: Path | None = ConfigOpt, url: UrlOpt = None, key: KeyOpt = None, agent: AgentOpt = None
) -> None:
    """Serve MCP on stdin/stdout: gateway tools, shared memory, handoffs and connected MCP servers."""
    from adaptive_gateway.config import ConfigError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if url:
            from adaptive_gateway.mcp.stdio import run_bridge

            asyncio.run(run_bridge(url, _bridge_key(key), agent))
        else:
            asyncio.run(_serve_in_process(*_load(resolve_config_path(config)), agent))
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    app.command()(mcp)

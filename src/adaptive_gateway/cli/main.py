"""The `adaptive-llm-gateway` command: one Typer app; each command group lives in its own module.

Command modules expose ``register(app: typer.Typer) -> None``; add a module to ``COMMAND_MODULES`` to
plug it in. Imports are done inside ``build_app`` so that ``--help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES: tuple[str, ...] = (
    "adaptive_gateway.cli.core_cmds",
    "adaptive_gateway.cli.setup_cmds",
    "adaptive_gateway.cli.memory_cmds",
    "adaptive_gateway.cli.mcp_cmds",
    "adaptive_gateway.cli.accounts_cmds",
    "adaptive_gateway.cli.routing_cmds",
    "adaptive_gateway.cli.service_cmds",
    "adaptive_gateway.cli.mode_cmds",
    "adaptive_gateway.cli.doctor_cmd",
    "adaptive_gateway.cli.trust_cmds",
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="adaptive-llm-gateway",
        help="Adaptive LLM Gateway: one local endpoint for every AI client and every model.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(app)
    return app


def run() -> None:
    build_app()()

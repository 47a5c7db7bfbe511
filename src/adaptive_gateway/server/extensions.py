"""Plug-in point for capabilities layered on the core app (admin API, trust, limits, cache, MCP,
dashboard, metrics). Each installs its routes, stages and hooks here, in one visible list."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adaptive_gateway.server.app import GatewayApp


def install_extensions(app: GatewayApp) -> None:
    """Install every extension, in pipeline order."""
    return None

"""Plug-in point for capabilities layered on the core app (admin API, limits, trust, cache, MCP,
dashboard, metrics). Each module listed here exposes ``install(app: GatewayApp) -> None`` and adds its
routes (``app.routes`` / ``app.mount``), pipeline stages (``app.gateway.stages`` / ``filters`` /
``finishers``), readiness checks and startup / shutdown hooks. The order is the pipeline order.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adaptive_gateway.server.app import GatewayApp

EXTENSIONS: tuple[str, ...] = (
    "adaptive_gateway.server.trust_ext",  # first: a request it blocks consumes no quota
    "adaptive_gateway.server.embedded_ext",
    "adaptive_gateway.server.routing_ext",
    "adaptive_gateway.server.accounts_ext",
    "adaptive_gateway.server.cache_ext",  # after admission: a hit still counts against rate limits
    "adaptive_gateway.server.mode_ext",
    "adaptive_gateway.server.mcp_ext",
    "adaptive_gateway.server.observability_ext",  # last: it sees what every other extension did
)


def install_extensions(app: GatewayApp) -> None:
    """Install every extension, in pipeline order."""
    for name in EXTENSIONS:
        importlib.import_module(name).install(app)

"""The accounts extension: virtual keys, admission (rate limits, concurrency, budgets), cost settlement
and usage records, webhooks, and the admin API under ``/api``.

Installs, in this order: the virtual-key resolver; a guard that rate-limits failed authentications per
client IP; catalog prices on unpriced deployments (also after each config reload); the admission stage;
the settling finisher; readiness checks for the store and the counters; startup / shutdown hooks; the
admin API (``/api/*``, ``/openapi.json``, ``/docs``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adaptive_gateway.accounts.admission import Admission
from adaptive_gateway.accounts.runtime import Accounts
from adaptive_gateway.accounts.settle import Finisher
from adaptive_gateway.config import CompiledConfig
from adaptive_gateway.errors import AuthenticationFailed
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.server.http import Http
from adaptive_gateway.server.lazy import ASGIApp, LazyApp

if TYPE_CHECKING:
    from adaptive_gateway.server.app import GatewayApp


def install(app: GatewayApp) -> None:
    gw = app.gateway
    accounts = Accounts(gw)
    gw.auth.resolvers.append(accounts.resolve)
    _guard_failed_auth(app, accounts)
    gw.swap_config(accounts.priced(gw.config))
    if app.reloader is not None:
        apply = app.reloader.apply

        def apply_priced(config: CompiledConfig) -> None:
            apply(accounts.priced(config))

        app.reloader.apply = apply_priced
    gw.stages.append(Admission(accounts))
    gw.finishers.append(Finisher(accounts))
    gw.readiness += [accounts.store_ready, accounts.state_ready]
    app.on_startup.append(accounts.start)
    app.on_shutdown.append(accounts.stop)

    _install_admin(app, accounts)


def _install_admin(app: GatewayApp, accounts: Accounts) -> None:
    """Mount the admin API at ``/api`` and serve its ``/openapi.json`` and ``/docs``; FastAPI is
    imported on the first admin request (see server/lazy.py)."""

    async def build() -> ASGIApp:
        from adaptive_gateway.server.admin import build_admin_api

        return build_admin_api(accounts)

    api = LazyApp(build)

    async def serve(http: Http) -> None:
        await api(http.scope, http.receive, http.send)

    app.mount("/api", api)
    app.routes[("GET", "/openapi.json")] = serve
    app.routes[("GET", "/docs")] = serve


def _guard_failed_auth(app: GatewayApp, accounts: Accounts) -> None:
    authenticate = app.gateway.authenticate

    def guarded(ctx: RequestContext, query_key: str | None = None) -> None:
        try:
            authenticate(ctx, query_key)
        except AuthenticationFailed:
            accounts.note_auth_failure(ctx.client_ip)
            raise

    app.gateway.authenticate = guarded  # type: ignore[method-assign]

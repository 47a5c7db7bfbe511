"""ASGI app assembly: the exact-path route table for the hot proxy routes, prefix routes, and a
fallback ASGI app (admin API, dashboard, MCP) for everything else.

Routes not in the open allow-list (``OPEN_ROUTES``) authenticate inside their handler.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import orjson

from adaptive_gateway.config import CompiledConfig, compile_config, default_config_path, load_config
from adaptive_gateway.errors import NotFound
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.server import health, proxy
from adaptive_gateway.server.anthropic_routes import MessagesRoutes
from adaptive_gateway.server.gemini_routes import GeminiRoutes
from adaptive_gateway.server.http import Http, Receive, Scope, Send
from adaptive_gateway.server.reload import ConfigReloader
from adaptive_gateway.wire.openai_chat import OpenAIChatWire
from adaptive_gateway.wire.openai_responses import OpenAIResponsesWire

log = logging.getLogger("adaptive_gateway")

Handler = Callable[[Http], Awaitable[None]]
PrefixHandler = Callable[[Http, str], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Hook = Callable[[], Awaitable[None]]

# the only routes served without a key
OPEN_ROUTES = frozenset({("GET", "/health"), ("GET", "/health/live"), ("HEAD", "/api/hello")})
# the public status page and the dashboard's static assets (the UI's data needs a key)
OPEN_ROUTES |= {("GET", "/status"), ("GET", "/ui")}


class GatewayApp:
    def __init__(self, gateway: Gateway, reloader: ConfigReloader | None = None) -> None:
        self.gateway = gateway
        self.reloader = reloader
        self.routes: dict[tuple[str, str], Handler] = {}
        self.prefixes: list[tuple[str, str, PrefixHandler]] = []
        self.fallback: ASGIApp | None = None
        self.mounts: list[tuple[str, ASGIApp]] = []
        # named objects that extensions share (e.g. the embedded runtimes, for doctor and health)
        self.extras: dict[str, object] = {}
        self.on_startup: list[Hook] = []
        self.on_shutdown: list[Hook] = []
        self._install_core_routes()

    def _install_core_routes(self) -> None:
        gw = self.gateway
        chat_wire = OpenAIChatWire()
        responses_wire = OpenAIResponsesWire()
        self.routes.update(
            {
                ("POST", "/v1/chat/completions"): lambda h: proxy.chat(gw, h, chat_wire, {}),
                ("POST", "/chat/completions"): lambda h: proxy.chat(gw, h, chat_wire, {}),
                ("POST", "/v1/responses"): lambda h: proxy.chat(gw, h, responses_wire, {}),
                ("POST", "/responses"): lambda h: proxy.chat(gw, h, responses_wire, {}),
                ("POST", "/v1/completions"): lambda h: proxy.openai_forward(gw, h, "/completions"),
                ("POST", "/v1/embeddings"): lambda h: proxy.openai_forward(gw, h, "/embeddings"),
                ("GET", "/v1/models"): lambda h: proxy.list_models(gw, h),
                ("GET", "/health"): partial(health.live, gw),
                ("GET", "/health/live"): partial(health.live, gw),
                ("GET", "/health/ready"): partial(health.ready, gw),
                ("HEAD", "/api/hello"): partial(health.live, gw),
            }
        )
        self.prefixes.append(("GET", "/v1/models/", lambda h, rest: proxy.list_models(gw, h, rest)))
        messages = MessagesRoutes(gw)
        self.routes[("POST", "/v1/messages")] = messages.messages
        self.routes[("POST", "/v1/messages/count_tokens")] = messages.count_tokens
        gemini = GeminiRoutes(gw)
        self.routes[("GET", "/v1beta/models")] = gemini.list_models
        self.prefixes.append(("POST", "/v1beta/models/", gemini.post))
        self.prefixes.append(("GET", "/v1beta/models/", gemini.get_model))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            handler = self.routes.get((scope["method"], scope["path"]))
            if handler is not None:
                await handler(Http(scope, receive, send))
                return
            path = scope["path"]
            for method, prefix, phandler in self.prefixes:
                if scope["method"] == method and path.startswith(prefix):
                    await phandler(Http(scope, receive, send), path[len(prefix) :])
                    return
            for prefix, sub in self.mounts:
                if path == prefix or path.startswith(prefix + "/") or prefix == "/":
                    await sub(scope, receive, send)
                    return
            if self.fallback is not None:
                await self.fallback(scope, receive, send)
                return
            await Http(scope, receive, send).respond(404, orjson.dumps(NotFound(f"no route {path}").body()))
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif self.fallback is not None:
            await self.fallback(scope, receive, send)

    def mount(self, prefix: str, sub: ASGIApp) -> None:
        """Serve ``prefix`` and everything under it with another ASGI app (admin API, MCP, UI).

        The sub-app gets the full path; it authenticates its own routes."""
        self.mounts.append((prefix.rstrip("/") or "/", sub))
        self.mounts.sort(key=lambda m: -len(m[0]))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # report, don't hang the server
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        await self.gateway.start()
        if self.reloader is not None:
            self.reloader.start()
        for hook in self.on_startup:
            await hook()

    async def shutdown(self) -> None:
        self.gateway.run_finishers()  # before the writers they feed stop
        if self.reloader is not None:
            await self.reloader.stop()
        for hook in reversed(self.on_shutdown):
            await hook()
        await self.gateway.close()


def build_app(config: CompiledConfig, config_path: Path | None = None) -> GatewayApp:
    """Assemble the app for a compiled config; ``config_path`` enables hot reload."""
    gateway = Gateway(config)
    reloader = None
    if config_path is not None:
        reloader = ConfigReloader(config_path, gateway.swap_config, config.source.server.reload_poll_seconds)
    app = GatewayApp(gateway, reloader)
    from adaptive_gateway.server.extensions import install_extensions

    install_extensions(app)
    return app


def create_app(config_path: Path | None = None) -> GatewayApp:
    """Factory used by the ASGI server: reads the config file (``ADAPTIVE_GATEWAY_CONFIG`` or default)."""
    path = config_path or default_config_path()
    cfg = load_config(path)
    return build_app(compile_config(cfg, text=path.read_text(encoding="utf-8")), path)

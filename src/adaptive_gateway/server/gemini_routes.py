"""Gemini routes: ``POST /v1beta/models/{model}:{action}`` (chat through the generic handler) and the
``GET /v1beta/models`` listing, errors in Gemini's shape. Keys come from ``x-goog-api-key`` or ``?key=``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import orjson

from adaptive_gateway.errors import GatewayError, NotFound
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.server import proxy
from adaptive_gateway.server.http import Http
from adaptive_gateway.wire.gemini import ACTIONS, STREAM_ACTION, GeminiArrayWire, GeminiWire

METHODS = ["generateContent", "streamGenerateContent"]


class GeminiRoutes:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.wire = GeminiWire()
        self.array_wire = GeminiArrayWire()  # streams without ?alt=sse

    async def _fail(self, http: Http, route: str, err: GatewayError) -> None:
        ctx = proxy.new_context(self.gw, http, route)
        await proxy.send_error(http, ctx, err, self.wire)

    async def post(self, http: Http, rest: str) -> None:
        """``rest`` is ``<model>:<action>`` (the part after ``/v1beta/models/``)."""
        model, _, action = unquote(rest).rpartition(":")
        if not model or action not in ACTIONS:
            await self._fail(
                http,
                "gemini",
                NotFound(
                    f"unsupported Gemini method '{rest}': expected models/<model>:generateContent or "
                    f":streamGenerateContent"
                ),
            )
            return
        wire = self.array_wire if action == STREAM_ACTION and http.query.get("alt") != "sse" else self.wire
        await proxy.chat(self.gw, http, wire, {"model": model.removeprefix("models/"), "action": action})

    def _entry(self, name: str) -> dict[str, Any]:
        model = self.gw.config.resolve(name)
        return {
            "name": "models/" + name,
            "displayName": name,
            "description": model.description if model else "",
            "supportedGenerationMethods": METHODS,
        }

    async def list_models(self, http: Http) -> None:
        await self._models(http, None)

    async def get_model(self, http: Http, rest: str) -> None:
        await self._models(http, unquote(rest).removeprefix("models/"))

    async def _models(self, http: Http, name: str | None) -> None:
        ctx = proxy.new_context(self.gw, http, "/v1beta/models")
        try:
            self.gw.authenticate(ctx, http.query.get("key"))
            if name is None:
                body = {"models": [self._entry(n) for n in ctx.config.public_names()]}
            else:
                self.gw.resolve_model(ctx, name)
                body = self._entry(name)
            await http.respond(200, orjson.dumps(body), [(b"x-request-id", ctx.request_id.encode())])
        except GatewayError as err:
            await proxy.send_error(http, ctx, err, self.wire)

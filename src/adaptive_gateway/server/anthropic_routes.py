"""Anthropic Messages routes: ``POST /v1/messages`` (also reached as ``/v1/messages?beta=true``, since
routes match on the path alone) and ``POST /v1/messages/count_tokens``."""

from __future__ import annotations

from typing import Any

import orjson

from adaptive_gateway.errors import GatewayError
from adaptive_gateway.formats.tokens import estimate_request_tokens
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.providers.anthropic import AnthropicAdapter
from adaptive_gateway.server import proxy
from adaptive_gateway.server.http import Http
from adaptive_gateway.types import ChatRequest
from adaptive_gateway.wire.anthropic import BETA_PARAM, AnthropicMessagesWire, count_tokens_body


class MessagesRoutes:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.wire = AnthropicMessagesWire()

    @staticmethod
    def _params(http: Http) -> dict[str, str]:
        beta = http.headers.get("anthropic-beta")
        return {BETA_PARAM: beta} if beta else {}

    async def messages(self, http: Http) -> None:
        await proxy.chat(self.gw, http, self.wire, self._params(http))

    async def count_tokens(self, http: Http) -> None:
        """``{"input_tokens": n}``: the Anthropic upstream's own count when the route's first candidate
        is an Anthropic deployment, else (or if that fails) the offline estimate."""
        gw = self.gw
        ctx = proxy.new_context(gw, http, "/v1/messages/count_tokens")
        try:
            gw.authenticate(ctx)
            body = proxy.decode_json(await http.body(gw.config.source.server.max_body_bytes))
            req = ctx.request = self.wire.decode(body, self._params(http))
            exact = await self._upstream_count(ctx, req, body)
            source = b"upstream" if exact is not None else b"estimate"
            tokens = exact if exact is not None else estimate_request_tokens(req)
            headers = [(b"x-request-id", ctx.request_id.encode()), (b"x-adaptive-token-count", source)]
            await http.respond(200, count_tokens_body(tokens), headers)
        except GatewayError as err:
            await proxy.send_error(http, ctx, err, self.wire)
        finally:
            gw.finish(ctx)

    async def _upstream_count(
        self, ctx: RequestContext, req: ChatRequest, body: dict[str, Any]
    ) -> int | None:
        plan = await self.gw.plan(ctx)  # resolves the model (404 / 403) and applies policy filters
        dep = plan.candidates[0] if plan is not None and plan.candidates else None
        adapter = self.gw.adapters.get(dep.provider.adapter) if dep is not None else None
        if dep is None or not isinstance(adapter, AnthropicAdapter):
            return None
        ureq = adapter.build_count_tokens(req, body, dep, ctx.provider_key)
        try:
            resp = await self.gw.upstream.send(dep.provider, ureq)
        except GatewayError:
            return None
        if resp.status != 200:
            return None
        try:
            tokens = orjson.loads(resp.body).get("input_tokens")
        except (orjson.JSONDecodeError, AttributeError):
            return None
        return tokens if isinstance(tokens, int) else None

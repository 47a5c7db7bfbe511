"""Proxy routes: chat in any wire format, plus OpenAI completions / embeddings / models."""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

import orjson

from adaptive_gateway.cache.replay import stream_body
from adaptive_gateway.errors import GatewayError, InvalidRequest
from adaptive_gateway.formats.openai_chat import decode_usage
from adaptive_gateway.pipeline.context import Answered, RequestContext
from adaptive_gateway.pipeline.execute import OpenStream
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.providers.upstream import UpstreamStream
from adaptive_gateway.server.http import DisconnectWatch, Headers, Http
from adaptive_gateway.types import StreamUsage, Usage
from adaptive_gateway.wire.base import Wire
from adaptive_gateway.wire.openai_chat import ChatPassthrough


class _RequestIds:
    """``req_`` + a random per-process prefix + a counter: unique across workers and replicas without a
    ``getrandom`` call per request. Reset in every forked child (workers fork from one supervisor)."""

    __slots__ = ("count", "prefix")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = "req_" + os.urandom(6).hex()
        self.count = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.count) & 0xFFFFFFFFFFFF:012x}"


_IDS = _RequestIds()
os.register_at_fork(after_in_child=_IDS.reset)


def request_id(headers: dict[str, str]) -> str:
    rid = headers.get("x-request-id")
    if rid and len(rid) <= 128 and rid.isprintable():
        return rid
    return _IDS.next()


def new_context(gw: Gateway, http: Http, route: str) -> RequestContext:
    return RequestContext(request_id(http.headers), route, gw.config, http.headers, http.client_ip)


def route_headers(ctx: RequestContext) -> Headers:
    out: Headers = [(b"x-request-id", ctx.request_id.encode())]
    dep = ctx.deployment
    if dep is not None:
        out += [
            (b"x-adaptive-provider", dep.provider.name.encode()),
            (b"x-adaptive-upstream-model", dep.upstream_model.encode()),
            (b"x-adaptive-deployment", dep.id.encode()),
        ]
    out.append((b"x-adaptive-attempts", str(len(ctx.attempts) + (1 if dep else 0)).encode()))
    if ctx.fallbacks:
        out.append((b"x-adaptive-fallbacks", str(ctx.fallbacks).encode()))
    if ctx.usage is not None:
        out.append((b"x-adaptive-cost-usd", f"{ctx.cost:.8f}".encode()))
    out.extend(ctx.extra_headers)
    return out


# upstream response headers a client needs to act on (back off), forwarded as they are
PASSED_HEADERS = ("retry-after", "retry-after-ms")


def passed_headers(headers: dict[str, str]) -> Headers:
    return [(name.encode(), headers[name].encode()) for name in PASSED_HEADERS if name in headers]


def decode_json(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"malformed JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    return body


async def send_error(http: Http, ctx: RequestContext, err: GatewayError, wire: Wire | None) -> None:
    ctx.status = err.status
    ctx.error = err.message
    if http.started:
        return
    body = wire.render_error(err) if wire is not None else orjson.dumps(err.body())
    headers = route_headers(ctx) + [(k.encode(), v.encode()) for k, v in err.headers.items()]
    await http.respond(err.status, body, headers)


async def chat(gw: Gateway, http: Http, wire: Wire, params: dict[str, str]) -> None:
    ctx = new_context(gw, http, wire.name)
    gw.inflight += 1
    try:
        gw.authenticate(ctx, http.query.get("key"))
        raw = await http.body(gw.config.source.server.max_body_bytes)
        if gw.recall is None or not gw.recall(ctx, wire, raw, params):  # a repeat skips the decode
            ctx.request = wire.decode(decode_json(raw), params)
        req = ctx.request
        assert req is not None
        if req.stream:
            up = await gw.open_stream(ctx)
            if isinstance(up, Answered):  # a stage answered it (a cache hit)
                await _replay(http, wire, ctx, up)
            else:
                await _stream(gw, http, wire, ctx, up)
        else:
            resp = await gw.complete(ctx)
            await http.respond(200, wire.render(resp, req), route_headers(ctx))
    except GatewayError as err:
        await send_error(http, ctx, err, wire)
    finally:
        gw.inflight -= 1
        gw.finish(ctx)


async def _stream(gw: Gateway, http: Http, wire: Wire, ctx: RequestContext, up: OpenStream) -> None:
    req = ctx.request
    assert req is not None
    renderer = wire.stream_renderer(req, "chatcmpl-" + ctx.request_id)
    passthrough = wire.passthrough_filter(req) if up.adapter.native_wire == wire.name else None
    usage: Usage | None = None
    await http.start_stream(200, route_headers(ctx), wire.stream_content_type)
    with DisconnectWatch(http.receive) as watch:
        try:
            if passthrough is not None:
                async for chunk in up.chunks():
                    await http.write(passthrough.feed(chunk))
                last = passthrough.finish()
                usage = passthrough.usage
            else:
                parser = up.parser(ctx)
                async for chunk in up.chunks():
                    events = parser.feed(chunk)
                    usage = _usage(events, usage)
                    await http.write(b"".join([renderer.render(e) for e in events]))
                tail = parser.close()
                usage = _usage(tail, usage)
                last = b"".join([renderer.render(e) for e in tail]) + renderer.finish()
            # the stream's end marker and the response's end in one send: a client that closes as soon as
            # it reads the marker cannot turn a delivered stream into a 499 (disconnected) one
            await http.end(last)
        except GatewayError as err:
            # bytes already went out: never retry elsewhere; end with the format's error event
            ctx.status, ctx.error = 502, err.message
            await http.end(renderer.error(err))
        except asyncio.CancelledError:
            if not watch.disconnected:
                raise
            ctx.status, ctx.error = 499, "client disconnected"
        finally:
            up.upstream.close()
            ctx.settle(usage)


async def _replay(http: Http, wire: Wire, ctx: RequestContext, answered: Answered) -> None:
    """A stage answered the request itself (a cache hit): its answer as the client format's stream
    (rendered by the stage already for a recalled repeat, cache/recall.py)."""
    assert ctx.request is not None
    body = answered.stream_body
    if body is None:
        body = stream_body(wire, ctx.request, answered.response, "chatcmpl-" + ctx.request_id)
    await http.whole_stream(200, route_headers(ctx), wire.stream_content_type, body)


def _usage(events: list[Any], current: Usage | None) -> Usage | None:
    for ev in events:
        if isinstance(ev, StreamUsage):
            current = ev.usage
    return current


async def openai_forward(gw: Gateway, http: Http, path: str) -> None:
    """``/v1/completions`` and ``/v1/embeddings``: forwarded with the model swapped."""
    ctx = new_context(gw, http, path)
    gw.inflight += 1
    try:
        gw.authenticate(ctx)
        body = decode_json(await http.body(gw.config.source.server.max_body_bytes))
        if not isinstance(body.get("model"), str):
            raise InvalidRequest("model: required string", param="model")
        stream = body.get("stream") is True
        up = await gw.forward_openai(ctx, path, body, stream)
        if isinstance(up, UpstreamStream):
            await _forward_stream(http, ctx, up, body)
            return
        if up.status < 400:
            ctx.settle(decode_usage(json_or_empty(up.body).get("usage")))
        ctx.status = up.status
        await http.respond(up.status, up.body, route_headers(ctx) + passed_headers(up.headers))
    except GatewayError as err:
        await send_error(http, ctx, err, None)
    finally:
        gw.inflight -= 1
        gw.finish(ctx)


async def _forward_stream(http: Http, ctx: RequestContext, up: UpstreamStream, body: dict[str, Any]) -> None:
    try:
        if up.status >= 400:
            ctx.status = up.status
            await http.respond(up.status, await up.read(), route_headers(ctx))
            return
        filt = ChatPassthrough(bool((body.get("stream_options") or {}).get("include_usage")))
        await http.start_stream(200, route_headers(ctx), b"text/event-stream")
        with DisconnectWatch(http.receive) as watch:
            try:
                async for chunk in up.chunks():
                    await http.write(filt.feed(chunk))
                await http.end(filt.finish())
            except GatewayError as err:
                await http.end(b"data: " + orjson.dumps(err.body()) + b"\n\n")
            except asyncio.CancelledError:
                if not watch.disconnected:
                    raise
                ctx.status = 499
        ctx.settle(filt.usage)
    finally:
        up.close()


def json_or_empty(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


async def list_models(gw: Gateway, http: Http, model_id: str | None = None) -> None:
    ctx = new_context(gw, http, "/v1/models")
    try:
        gw.authenticate(ctx)
        cfg = ctx.config

        def entry(name: str) -> dict[str, Any]:
            model = cfg.resolve(name)
            return {
                "id": name,
                "object": "model",
                "created": 0,
                "owned_by": "adaptive-gateway",
                "alias_of": cfg.aliases.get(name),
                "description": model.description if model else "",
            }

        if model_id is None:
            data = orjson.dumps({"object": "list", "data": [entry(n) for n in cfg.public_names()]})
        elif cfg.resolve(model_id) is None:
            raise gw_model_not_found(gw, ctx, model_id)
        else:
            data = orjson.dumps(entry(model_id))
        await http.respond(200, data, [(b"x-request-id", ctx.request_id.encode())])
    except GatewayError as err:
        await send_error(http, ctx, err, None)


def gw_model_not_found(gw: Gateway, ctx: RequestContext, name: str) -> GatewayError:
    try:
        gw.resolve_model(ctx, name)
    except GatewayError as err:
        return err
    return InvalidRequest(name)

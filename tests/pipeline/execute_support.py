"""Support for executor tests: an in-process Gateway over real fake upstreams, a sleep that records
instead of waiting, and small real servers for answers the standard fakes do not give."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from adaptive_gateway.config import compile_config, parse_config
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.types import ChatRequest, ContentPart, Message
from tests.routing.support import FakeClock


class Sleeps:
    """Stands in for asyncio.sleep: records each delay, yields once, returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


def make_gateway(config: str, clock: FakeClock, sleeps: Sleeps) -> Gateway:
    gw = Gateway(compile_config(parse_config(config, {}), {}))
    gw.executor.sleep = sleeps
    gw.executor.router.clock = clock
    return gw


def context(gw: Gateway, model: str = "m", *, stream: bool = False, text: str = "hi") -> RequestContext:
    ctx = RequestContext("req_test", "test", gw.config, {})
    ctx.request = ChatRequest(model, [Message("user", [ContentPart("text", text=text)])], stream=stream)
    return ctx


def provider(name: str, url: str, read: float = 3) -> str:
    return (
        f'  {name}: {{kind: openai-compatible, base_url: "{url}/v1", api_key: sk-{name},'
        f" timeouts: {{connect: 1, read: {read}, total: 10}}}}\n"
    )


SAFETY = {
    "error": {
        "message": "Your request was rejected as a result of our safety system.",
        "type": "invalid_request_error",
        "code": "content_policy_violation",
    }
}
TOO_LONG = {
    "error": {
        "message": "This model's maximum context length is 8192 tokens. Please reduce the length.",
        "type": "invalid_request_error",
        "code": "context_length_exceeded",
    }
}
FILTERED = {
    "id": "chatcmpl-filtered",
    "object": "chat.completion",
    "created": 0,
    "model": "guarded",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "content_filter"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3},
}
ANSWERS: dict[str, tuple[int, Any]] = {
    "safety": (400, SAFETY),
    "toolong": (400, TOO_LONG),
    "filtered": (200, FILTERED),
}


class PolicyServer:
    """An OpenAI-compatible server that always answers one of ANSWERS; counts requests."""

    def __init__(self, answer: str) -> None:
        self.status, self.body = ANSWERS[answer]
        self.hits = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _chat(self, request: web.Request) -> web.Response:
        self.hits += 1
        await request.read()
        return web.json_response(self.body, status=self.status)

    async def __aenter__(self) -> PolicyServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class ResetServer:
    """Accepts a connection, reads the request, and resets it (RST) before sending a byte."""

    def __init__(self) -> None:
        self.hits = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hits += 1
        await reader.read(65536)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    async def __aenter__(self) -> ResetServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def drain(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])

"""A thin request/response helper over raw ASGI for the proxy routes (no framework on the hot path)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import suppress
from types import MethodType
from typing import Any
from urllib.parse import parse_qsl

from adaptive_gateway.errors import InvalidRequest, PayloadTooLarge
from adaptive_gateway.server.cycle import Cycle

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"


class Http:
    """One request for a handler. Under the gateway's own server (``send`` is a
    :class:`~adaptive_gateway.server.cycle.Cycle`'s) it reads a body that is all there and sends a whole
    response straight through that cycle; under any other ASGI server, and for streams, through
    ``receive`` / ``send``."""

    __slots__ = ("_cycle", "_query", "headers", "method", "path", "receive", "scope", "send", "started")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers: dict[str, str] = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self._query: dict[str, str] | None = None
        self.started = False
        # (a type test, not getattr(send, "__self__", None): for a plain function that raises inside)
        self._cycle: Cycle | None = (
            send.__self__ if type(send) is MethodType and type(send.__self__) is Cycle else None
        )

    @property
    def query(self) -> dict[str, str]:
        if self._query is None:
            raw = self.scope.get("query_string", b"")
            self._query = dict(parse_qsl(raw.decode("latin-1"))) if raw else {}
        return self._query

    @property
    def client_ip(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else ""

    async def body(self, limit: int) -> bytes:
        """The whole request body; 413 past ``limit`` (checked on Content-Length first)."""
        declared = self.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise InvalidRequest("invalid Content-Length header")
            if int(declared) > limit:
                raise PayloadTooLarge(f"request body of {declared} bytes exceeds the {limit}-byte limit")
        whole = self._cycle.body_if_complete() if self._cycle is not None else None
        if whole is not None:
            if len(whole) > limit:
                raise PayloadTooLarge(f"request body exceeds the {limit}-byte limit")
            return whole
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await self.receive()
            if msg["type"] == "http.disconnect":
                raise asyncio.CancelledError("client disconnected")
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body exceeds the {limit}-byte limit")
            chunks.append(chunk)
            if not msg.get("more_body"):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def respond(
        self, status: int, body: bytes, headers: Headers | None = None, content_type: bytes = JSON
    ) -> None:
        hdrs = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        if headers:
            hdrs.extend(headers)
        self.started = True
        if self._cycle is not None and self._cycle.respond(status, hdrs, body):
            return
        await self.send({"type": "http.response.start", "status": status, "headers": hdrs})
        await self.send({"type": "http.response.body", "body": body})

    async def start_stream(self, status: int, headers: Headers, content_type: bytes) -> None:
        self.started = True
        hdrs = _stream_headers(headers, content_type)
        await self.send({"type": "http.response.start", "status": status, "headers": hdrs})

    async def whole_stream(self, status: int, headers: Headers, content_type: bytes, body: bytes) -> None:
        """A stream whose every event is known (a cached answer replayed): ``start_stream`` then
        ``end(body)``, sent at once where the server allows (chunked, like any stream)."""
        self.started = True
        hdrs = _stream_headers(headers, content_type)
        if self._cycle is not None and self._cycle.respond(status, hdrs, body):
            return
        await self.send({"type": "http.response.start", "status": status, "headers": hdrs})
        await self.send({"type": "http.response.body", "body": body})

    async def write(self, data: bytes) -> None:
        if data:
            await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self, data: bytes = b"") -> None:
        await self.send({"type": "http.response.body", "body": data})


def _stream_headers(headers: Headers, content_type: bytes) -> Headers:
    hdrs = [(b"content-type", content_type), (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
    hdrs.extend(headers)
    return hdrs


class DisconnectWatch:
    """Cancels the current task when the client goes away (used while streaming)."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.disconnected = False
        self._owner = asyncio.current_task()
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            msg = await self.receive()
            if msg["type"] == "http.disconnect":
                self.disconnected = True
                if self._owner is not None:
                    self._owner.cancel()
                return

    def __enter__(self) -> DisconnectWatch:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        with suppress(Exception):
            if self._owner is not None and self.disconnected:
                self._owner.uncancel()

"""One keep-alive HTTP/1.1 client connection: an :class:`asyncio.Protocol` whose bytes go straight into
``httptools.HttpResponseParser`` (the C parser uvicorn uses).

A connection carries one exchange at a time: :meth:`Connection.begin` writes the request, the parser
callbacks fill ``status`` / ``headers`` / ``parts``, and the consumer sleeps in :meth:`Connection.wait`
until there is something for it. In *collect* mode (non-streaming) it is woken once, when the response is
complete; in *streaming* mode also when the headers and each body piece arrive. Reading is paused while
more than ``HIGH_WATER`` body bytes wait for a slow consumer.

One timer per exchange enforces the read timeout (no byte for ``read`` seconds while the consumer waits)
and the total deadline; on expiry the transport is aborted and the consumer gets a :class:`TimeoutError`.
A connection that ended or broke mid-response gives :class:`ConnectionDropped`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

import httptools

HIGH_WATER = 256 * 1024
_NO_BODY_STATUS = frozenset({204, 304})


class ConnectionDropped(Exception):
    """The connection closed or broke before the response was complete."""


class Connection(asyncio.Protocol):
    """A pooled connection (see the module docstring). ``on_lost`` runs once, when the socket is gone."""

    __slots__ = (
        "_active",
        "_activity",
        "_deadline",
        "_eof_body",
        "_on_lost",
        "_parser",
        "_paused",
        "_read_timeout",
        "_streaming",
        "_timer",
        "_waiter",
        "buffered",
        "closed",
        "complete",
        "error",
        "got_bytes",
        "headers",
        "headers_done",
        "idle_since",
        "in_pool",
        "keep_alive",
        "loop",
        "parts",
        "reused",
        "status",
        "transport",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, on_lost: Callable[[Connection], None]) -> None:
        self.loop = loop
        self._on_lost = on_lost
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.in_pool = False
        self.reused = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._paused = False
        self._active = False
        self._reset(False)

    def _reset(self, streaming: bool) -> None:
        self._streaming = streaming
        self.status = 0
        self.headers: dict[str, str] = {}
        self.parts: list[bytes] = []
        self.buffered = 0
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.got_bytes = False
        self._eof_body = False
        self.error: BaseException | None = None

    # ---- the consumer's side ----------------------------------------------------------------------------

    def begin(self, data: bytes, streaming: bool, read_timeout: float, deadline: float) -> None:
        """Start an exchange: send ``data`` (a whole serialised request) and arm the timeouts."""
        self._reset(streaming)
        self._active = True
        self._read_timeout = read_timeout
        self._deadline = deadline
        now = self.loop.time()
        self._activity = now
        self._timer = self.loop.call_at(min(deadline, now + read_timeout), self._on_timer)
        transport = self.transport
        if transport is None or transport.is_closing():
            self._fail(ConnectionDropped("connection closed before the request was sent"))
            return
        transport.write(data)

    async def wait(self) -> None:
        """Sleep until the parser has news (see the module docstring); raises the exchange's error."""
        if self.error is None:
            fut = self.loop.create_future()
            self._waiter = fut
            if self._streaming:
                self._activity = self.loop.time()
            await fut
        if self.error is not None:
            raise self.error

    def take(self) -> bytes:
        """The body bytes received so far (b"" when none), resuming a paused transport."""
        parts = self.parts
        if not parts:
            return b""
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.parts = []
        self.buffered = 0
        if self._paused:
            self._paused = False
            if not self.closed and self.transport is not None:
                self.transport.resume_reading()
        return data

    def finish(self) -> bool:
        """End the exchange; True when the connection may carry another one."""
        self._active = False
        self._cancel_timer()
        return self.complete and self.keep_alive and not self.closed and self.error is None

    def abort(self) -> None:
        """Drop the connection at once (half-read, cancelled or broken: never reuse it)."""
        self._active = False
        self._cancel_timer()
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Close an idle connection politely."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # ---- asyncio.Protocol ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        if not self._active:
            self.abort()  # bytes nobody asked for: the connection's state is unknown
            return
        self.got_bytes = True
        self._activity = self.loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionDropped(f"invalid HTTP response: {exc}"))

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost decides whether the body was complete

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        if self._active and not self.complete and self.error is None:
            if self._eof_body and exc is None:
                self.complete = True  # a body delimited by the end of the connection
            else:
                reason = "connection closed by upstream" if exc is None else f"{type(exc).__name__}: {exc}"
                self.error = ConnectionDropped(reason)
        self._wake()
        self._on_lost(self)

    def pause_writing(self) -> None:
        pass  # requests are small and written once

    def resume_writing(self) -> None:
        pass

    # ---- httptools callbacks ----------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # a second response to one request
            self.keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        self.status = status
        if status < 200:
            return  # an interim response (100 Continue): the real one follows
        headers = self.headers
        self._eof_body = (
            status not in _NO_BODY_STATUS
            and "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
        )
        self.headers_done = True
        if self._streaming:
            self._wake()

    def on_body(self, body: bytes) -> None:
        self.parts.append(body)
        self.buffered += len(body)
        if self._streaming:
            self._wake()
            if self.buffered > HIGH_WATER and not self._paused and self.transport is not None:
                self._paused = True
                self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self.status < 200:
            self.headers = {}
            return
        if self.complete:
            return
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()
        self._cancel_timer()
        self._wake()

    # ---- internals --------------------------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.abort()
        self._wake()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if not self._active or self.complete:
            return
        now = self.loop.time()
        if now >= self._deadline:
            self._fail(TimeoutError("total timeout"))
        elif self._waiter is not None and now - self._activity >= self._read_timeout:
            self._fail(TimeoutError("read timeout"))
        else:
            base = self._activity if self._waiter is not None else now
            self._timer = self.loop.call_at(min(self._deadline, base + self._read_timeout), self._on_timer)

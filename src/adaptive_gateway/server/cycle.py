"""One HTTP request's ASGI cycle (``receive`` / ``send``) and the write batch its response goes out in.

Used by the gateway's protocol (server/protocol.py), which replaces uvicorn's per-request cycle with this
one (docs/benchmarks.md, ninth session):

* :class:`Cycle` has slots and positional construction, waits for the body on a future made only when
  the body is not there yet (:class:`BodyEvent`; uvicorn makes an ``asyncio.Event`` per request), and
  keeps the body's chunks in a list instead of growing a ``bytearray`` and copying it out;
* what a response writes during one event-loop iteration (status line, headers, body or stream chunks)
  is sent at the start of the next, one write per response, all connections' responses in one
  ``call_soon`` (:class:`WriteBatch`): one ``send`` syscall and TCP segment per response instead of one
  per ASGI message, and no send syscalls (with the peer's loopback receive path) interleaved with the
  Python work of the iteration's other requests;
* response header lines are validated and built once per distinct (name, value) pair;
* the gateway's own handlers (``server/http.py``), finding that ``send`` is a cycle's, call
  :meth:`Cycle.body_if_complete` and :meth:`Cycle.respond`: a body that is all there is taken and a
  whole response sent without the ASGI messages (two dicts and three awaits a request); each says when
  the usual ``receive`` / ``send`` must be used instead. (Not an entry in ``scope["extensions"]``: the
  scope would then hold its cycle, which holds the scope, and every request would wait for the
  collector to be freed.)

What a response may be is unchanged from uvicorn: header names and values are validated (uvicorn's own
expressions), a missing length means chunked, HEAD sends no body, a body longer or shorter than its
``content-length`` is an error, and ``connection: close`` closes after the response. One difference: a
header refused by the validation leaves the response unstarted, so the client gets a 500 (uvicorn can
only drop the connection).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, STATUS_LINE

_LOG = logging.getLogger("uvicorn.error")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_WRITEV_FROM = 16_384  # a body this large goes out beside its head (writelines), not copied onto it
_DISCONNECT = {"type": "http.disconnect"}  # a fresh dict each time: receivers may keep or change it


def _noop() -> None:
    return None


class BodyEvent:
    """What ``asyncio.Event`` does for one request's body, without its per-request cost: ``set`` by the
    protocol (body arrived, message complete, connection lost, response done), awaited by ``receive``."""

    __slots__ = ("_loop", "_waiter", "is_set")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None
        self.is_set = False

    def set(self) -> None:
        self.is_set = True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self) -> None:
        if self.is_set:
            return
        waiter = self._waiter
        if waiter is None or waiter.done():  # done: cancelled with an earlier waiting task
            waiter = self._waiter = self._loop.create_future()
        await waiter


class Cycle:
    """One request and its response (the ASGI ``receive`` and ``send`` of a request)."""

    __slots__ = (
        "batch",
        "chunked",
        "chunks",
        "default_headers",
        "disconnected",
        "expected_length",
        "flow",
        "keep_alive",
        "loop",
        "message_event",
        "more_body",
        "on_response",
        "pending",
        "response_complete",
        "response_started",
        "scope",
        "size",
        "transport",
        "waiting_for_100_continue",
    )

    def __init__(
        self,
        scope: dict[str, Any],
        transport: asyncio.Transport,
        flow: FlowControl,
        loop: asyncio.AbstractEventLoop,
        expect_100_continue: bool,
        keep_alive: bool,
        on_response: Callable[[], None],
        default_headers: list[tuple[bytes, bytes]],
        batch: WriteBatch,
    ) -> None:
        self.batch = batch
        self.scope = scope
        self.default_headers = default_headers
        self.transport = transport
        self.flow = flow
        self.loop = loop
        self.message_event = BodyEvent(loop)
        self.on_response = on_response
        self.disconnected = False
        self.keep_alive = keep_alive
        self.waiting_for_100_continue = expect_100_continue
        self.chunks: list[bytes] = []
        self.size = 0
        self.more_body = True
        self.response_started = False
        self.response_complete = False
        self.chunked = False
        self.expected_length = 0
        self.pending: list[bytes] | None = None  # written this loop iteration, not sent yet (WriteBatch)

    async def run_asgi(self, app: Any) -> None:
        try:
            result = await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            _LOG.error("Exception in ASGI application\n", exc_info=exc)
            if not self.response_started:
                await self.send_500_response()
            else:
                self._flush()
                self.transport.close()
        else:
            if result is not None:
                _LOG.error("ASGI callable should return None, but returned '%s'.", result)
                self._flush()
                self.transport.close()
            elif not self.response_started and not self.disconnected:
                _LOG.error("ASGI callable returned without starting response.")
                await self.send_500_response()
            elif not self.response_complete and not self.disconnected:
                _LOG.error("ASGI callable returned without completing response.")
                self._flush()
                self.transport.close()
        finally:
            self.on_response = _noop

    async def send_500_response(self) -> None:
        await self.send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", b"21"),
                    (b"connection", b"close"),
                ],
            }
        )
        await self.send({"type": "http.response.body", "body": b"Internal Server Error", "more_body": False})

    # ---- ASGI ------------------------------------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(_CONTINUE)
            self.waiting_for_100_continue = False
        if not self.disconnected and not self.response_complete:
            event = self.message_event
            self.flow.resume_reading()
            if not event.is_set:
                await event.wait()
            event.is_set = False
        if self.disconnected or self.response_complete:
            return dict(_DISCONNECT)
        return {"type": "http.request", "body": self._take_body(), "more_body": self.more_body}

    def _take_body(self) -> bytes:
        """The body chunks received so far, joined (b"" when none)."""
        chunks = self.chunks
        if not chunks:
            return b""
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.chunks = []
        self.size = 0
        return body

    # ---- for the gateway's own handlers (server/http.py), without the ASGI messages -----------------

    def body_if_complete(self) -> bytes | None:
        """The whole request body when all of it has arrived (what ``receive`` would return), else None
        (more to come, a 100-continue to send, disconnected): then ``receive`` as usual."""
        if self.more_body or self.disconnected or self.response_complete or self.waiting_for_100_continue:
            return None
        self.flow.resume_reading()
        self.message_event.is_set = False
        return self._take_body()

    def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
        """A whole response (``http.response.start`` then one ``http.response.body``); False, with
        nothing sent, when ``send`` must be used (started already, disconnected, writes paused)."""
        if self.response_started or self.disconnected or self.flow.write_paused:
            return False
        self._start(status, headers)
        self._body(body, False)
        return True

    # ---- ASGI ``send`` ---------------------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.start', but got '{message['type']}'."
                )
            self._start(message["status"], message.get("headers", ()))
        elif not self.response_complete:
            if message["type"] != "http.response.body":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.body', but got '{message['type']}'."
                )
            self._body(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(
                f"Unexpected ASGI message '{message['type']}' sent, after response already completed."
            )

    def _start(self, status: int, headers: Any) -> None:
        content = [STATUS_LINE[status]]
        length: bytes | None = None
        close = False
        chunked = False
        if self.default_headers:
            headers = self.default_headers + list(headers)
        lines = _LINES
        for pair in headers:
            try:
                known = lines.get(pair)
            except TypeError:  # a list pair (ASGI allows any two-item iterable)
                known = None
            line, framing = known or _header_line(pair)  # validates (RuntimeError), remembers
            if framing is not None:  # content-length, transfer-encoding, connection
                value = pair[1]
                if framing == b"content-length":
                    if length is None and not chunked:
                        length = value
                elif framing == b"transfer-encoding":
                    if value.lower() == b"chunked" and length is None:
                        chunked = True
                elif b"close" in [t.lower().strip() for t in value.split(b",")]:
                    self.keep_alive = False
                    close = True
            content.append(line)
        if not self.keep_alive and not close:
            content.append(b"connection: close\r\n")
        if length is not None:
            self.expected_length = int(length.decode())
        elif not chunked and self.scope["method"] != "HEAD" and status not in (204, 304):
            chunked = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        # started only now: a header refused above leaves the response unstarted, so the app's error
        # becomes a 500 (uvicorn marks it started first and can then only drop the connection)
        self.response_started = True
        self.waiting_for_100_continue = False
        self.chunked = chunked
        self._out(b"".join(content))

    def _body(self, body: bytes, more_body: bool) -> None:
        if self.scope["method"] == "HEAD":
            self.expected_length = 0
        elif self.chunked:
            if body:
                self._out(b"%x\r\n%b\r\n" % (len(body), body))
            if not more_body:
                self._out(b"0\r\n\r\n")
        else:
            size = len(body)
            if size > self.expected_length:
                raise RuntimeError("Response content longer than Content-Length")
            self.expected_length -= size
            if body:
                self._out(body)
        if not more_body:
            if self.expected_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self._flush()
                self.transport.close()
            self.on_response()

    def _out(self, data: bytes) -> None:
        pending = self.pending
        if pending is None:
            self.pending = [data]
            self.batch.add(self)
        else:
            pending.append(data)

    def _flush(self) -> None:
        """Write what this response has made so far (the batch calls it once per loop iteration)."""
        pending = self.pending
        if pending is not None:
            self.pending = None
            transport = self.transport
            if transport.is_closing():
                return
            if len(pending) == 1:
                transport.write(pending[0])
            elif len(pending) == 2 and len(pending[1]) < _WRITEV_FROM:
                transport.write(pending[0] + pending[1])
            else:
                transport.writelines(pending)


# (name, value) -> (validated "name: value\r\n", the lowercased name if it steers framing else None)
_LINES: dict[tuple[bytes, bytes], tuple[bytes, bytes | None]] = {}
_LINES_MAX = 4096  # cleared when full: values unique per request (ids) pass through, common pairs come back
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))
# the gateway's own headers whose value is new on every response: validated, never remembered (kept,
# thousands of pairs used once would only churn memory between the clears)
_PER_RESPONSE = frozenset((b"x-request-id", b"x-adaptive-receipt"))


def _header_line(pair: Any) -> tuple[bytes, bytes | None]:
    """``name: value\r\n`` of a response header (name lowercased), checked as uvicorn checks it, and
    the name when it is one of ``_FRAMING``: most responses repeat the same pairs, so each is validated
    and built once (two regular expressions per header were ~1.5 % of a cache hit's CPU)."""
    name, value = pair
    pair = (name, value)
    if HEADER_RE.search(name):
        raise RuntimeError("Invalid HTTP header name.")
    if HEADER_VALUE_RE.search(value):
        raise RuntimeError("Invalid HTTP header value.")
    lower = name.lower()
    known = (b"%b: %b\r\n" % (lower, value), lower if lower in _FRAMING else None)
    if len(_LINES) >= _LINES_MAX:
        _LINES.clear()
    if type(name) is bytes and type(value) is bytes and name not in _PER_RESPONSE:  # immutable: safe
        _LINES[pair] = known
    return known


class WriteBatch:
    """The responses written during one event-loop iteration, sent together at the start of the next.

    Writing a response the moment it is made interleaves send syscalls (and, on loopback, the peer's
    receive path) with the Python work of the other requests of the iteration; batching them measured
    cheaper per request end to end (docs/benchmarks.md, ninth session). One batch per event loop,
    one ``call_soon`` per iteration (not per response)."""

    __slots__ = ("_cycles", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._cycles: list[Cycle] | None = None

    def add(self, cycle: Cycle) -> None:
        cycles = self._cycles
        if cycles is None:
            self._cycles = [cycle]
            self._loop.call_soon(self.flush)
        else:
            cycles.append(cycle)

    def flush(self) -> None:
        cycles = self._cycles
        if cycles is not None:
            self._cycles = None
            for cycle in cycles:
                try:
                    cycle._flush()
                except Exception:  # one broken transport must not keep the others' responses back
                    _LOG.exception("writing a response failed")
                    cycle.transport.abort()


_BATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteBatch] = weakref.WeakKeyDictionary()


def batch_for(loop: asyncio.AbstractEventLoop) -> WriteBatch:
    batch = _BATCHES.get(loop)
    if batch is None:
        batch = _BATCHES[loop] = WriteBatch(loop)
    return batch

"""The gateway's HTTP/1.1 protocol and request cycle (server/protocol.py, server/cycle.py) on the wire:
a real uvicorn server (uvloop, as in production) with a small ASGI app, spoken to over raw sockets so
every byte of framing is visible."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from adaptive_gateway.server.protocol import GatewayHttpProtocol
from tests.support.gateway import free_port

BIG = b"x" * 100_000


async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            await send({"type": msg["type"] + ".complete"})
            if msg["type"] == "lifespan.shutdown":
                return
    path = scope["path"]
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    if path == "/echo":
        answer = (
            b"%s %s %s %d:"
            % (
                scope["method"].encode(),
                scope["raw_path"],
                scope["query_string"],
                len(body),
            )
            + body[:32]
        )
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
    elif path == "/stream":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        for i in range(3):
            await send({"type": "http.response.body", "body": b"data: %d\n\n" % i, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
    elif path == "/big":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(BIG))]}
        )
        await send({"type": "http.response.body", "body": BIG[:40_000], "more_body": True})
        await send({"type": "http.response.body", "body": BIG[40_000:]})
    elif path == "/close":
        headers = [(b"content-length", b"2"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})
    elif path == "/raise-early":
        raise RuntimeError("boom")
    elif path == "/raise-late":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
        await send({"type": "http.response.body", "body": b"12345", "more_body": True})
        raise RuntimeError("boom")
    elif path == "/bad-header":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"x-evil", b"a\r\nset-cookie: x")]}
        )
    elif path == "/slow":
        await asyncio.sleep(0.3)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"slow"})


class Server:
    def __init__(self, keep_alive: int = 75, asgi: Any = None) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            asgi or app,
            host="127.0.0.1",
            port=self.port,
            loop="uvloop",
            http=GatewayHttpProtocol,
            lifespan="on",
            log_level="critical",
            access_log=False,
            timeout_keep_alive=keep_alive,
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return sock


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server() as s:
        yield s


def read_response(sock: socket.socket, buf: bytearray) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One response off ``sock`` (status line, headers, body by content-length or chunks); the rest stays
    in ``buf`` for the next one."""

    def fill() -> None:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        buf.extend(data)

    while b"\r\n\r\n" not in buf:
        fill()
    head, _, _rest = bytes(buf).partition(b"\r\n\r\n")
    del buf[: len(head) + 4]
    status, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(b":")
        assert name not in headers, f"header {name!r} twice"
        headers[name.lower()] = value.strip()
    if b"content-length" in headers:
        size = int(headers[b"content-length"])
        while len(buf) < size:
            fill()
        body = bytes(buf[:size])
        del buf[:size]
        return status, headers, body
    assert headers.get(b"transfer-encoding") == b"chunked", headers
    body = b""
    while True:
        while b"\r\n" not in buf:
            fill()
        line, _, _ = bytes(buf).partition(b"\r\n")
        size = int(line, 16)
        while len(buf) < len(line) + 2 + size + 2:
            fill()
        chunk = bytes(buf[len(line) + 2 : len(line) + 2 + size])
        assert buf[len(line) + 2 + size : len(line) + 4 + size] == b"\r\n"
        del buf[: len(line) + 4 + size]
        if size == 0:
            return status, headers, body
        body += chunk


def request(path: str, body: bytes = b"", method: str = "POST", extra: bytes = b"") -> bytes:
    return b"%s %s HTTP/1.1\r\nhost: t\r\ncontent-length: %d\r\n%s\r\n%s" % (
        method.encode(),
        path.encode(),
        len(body),
        extra,
        body,
    )


def closed(sock: socket.socket, wait: float = 2.0) -> bool:
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_keep_alive_requests_on_one_connection(server: Server) -> None:
    with server.connect() as sock:
        buf = bytearray()
        for i in range(5):
            sock.sendall(request("/echo", b"hello %d" % i))
            status, headers, body = read_response(sock, buf)
            assert status == b"HTTP/1.1 200 OK"
            assert body == b"POST /echo  7:hello %d" % i
            assert b"connection" not in headers


def test_path_query_and_escapes(server: Server) -> None:
    with server.connect() as sock:
        buf = bytearray()
        sock.sendall(request("/echo?a=1&b=%20", b"", method="GET"))
        assert read_response(sock, buf)[2] == b"GET /echo a=1&b=%20 0:"
        sock.sendall(request("/ech%6F", b"", method="GET"))  # escaped path: decoded path routes, raw kept
        assert read_response(sock, buf)[2] == b"GET /ech%6F  0:"
        sock.sendall(request("http://t/echo?z=9", b"", method="GET"))  # absolute form
        assert read_response(sock, buf)[2] == b"GET /echo z=9 0:"


def test_pipelined_requests_answered_in_order(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(request("/slow") + request("/echo", b"second") + request("/stream"))
        buf = bytearray()
        assert read_response(sock, buf)[2] == b"slow"
        assert read_response(sock, buf)[2] == b"POST /echo  6:second"
        assert read_response(sock, buf)[2] == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"


def test_stream_is_chunked_and_terminated(server: Server) -> None:
    with server.connect() as sock:
        buf = bytearray()
        sock.sendall(request("/stream"))
        _status, headers, body = read_response(sock, buf)
        assert headers[b"transfer-encoding"] == b"chunked"
        assert b"content-length" not in headers
        assert body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
        sock.sendall(request("/echo", b"after"))  # the connection is still good
        assert read_response(sock, buf)[2] == b"POST /echo  5:after"


def test_large_bodies_both_ways(server: Server) -> None:
    payload = bytes(range(256)) * 1024  # 256 KiB: the reader pauses past 64 KiB and resumes
    with server.connect() as sock:
        buf = bytearray()
        sock.sendall(request("/echo", payload))
        assert read_response(sock, buf)[2] == b"POST /echo  %d:" % len(payload) + payload[:32]
        sock.sendall(request("/big"))
        _status, _headers, body = read_response(sock, buf)
        assert body == BIG


def test_chunked_request_body(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        assert read_response(sock, bytearray())[2] == b"POST /echo  11:hello world"


def test_expect_100_continue(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\nexpect: 100-continue\r\n\r\n")
        interim = sock.recv(100)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"body")
        assert read_response(sock, bytearray())[2] == b"POST /echo  4:body"


def test_head_has_headers_and_no_body(server: Server) -> None:
    with server.connect() as sock:
        buf = bytearray()
        sock.sendall(request("/echo", method="HEAD"))
        while b"\r\n\r\n" not in buf:
            buf.extend(sock.recv(65536))
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        assert b"content-length: 14" in head.lower()  # of "HEAD /echo  0:"
        assert rest == b""
        sock.sendall(request("/echo", b"next"))  # no stray body bytes before the next response
        buf.clear()
        assert read_response(sock, buf)[2] == b"POST /echo  4:next"


def test_connection_close(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(request("/close"))
        status, headers, body = read_response(sock, bytearray())
        assert (headers[b"connection"], body) == (b"close", b"ok")
        assert closed(sock)
    with server.connect() as sock:  # the client asks to close
        sock.sendall(request("/echo", b"x", extra=b"connection: close\r\n"))
        status, headers, body = read_response(sock, bytearray())
        assert headers[b"connection"] == b"close"
        assert closed(sock)
    with server.connect() as sock:  # HTTP/1.0 without keep-alive
        sock.sendall(b"GET /echo HTTP/1.0\r\n\r\n")
        status, headers, body = read_response(sock, bytearray())
        assert status == b"HTTP/1.1 200 OK" and body == b"GET /echo  0:"
        assert closed(sock)


def test_app_errors(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(request("/raise-early"))
        status, headers, body = read_response(sock, bytearray())
        assert (status, body) == (b"HTTP/1.1 500 Internal Server Error", b"Internal Server Error")
        assert closed(sock)
    with server.connect() as sock:  # started, then failed: the client sees a short body and a close
        sock.sendall(request("/raise-late"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\n12345")
    with server.connect() as sock:  # a header value with CR LF is refused, not sent
        sock.sendall(request("/bad-header"))
        status, headers, body = read_response(sock, bytearray())
        assert status == b"HTTP/1.1 500 Internal Server Error"
        assert b"set-cookie" not in headers


def test_malformed_request_gets_400(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, _headers, _body = read_response(sock, bytearray())
        assert status == b"HTTP/1.1 400 Bad Request"
        assert closed(sock)


def test_keep_alive_timeout_counts_from_the_last_response() -> None:
    with Server(keep_alive=1) as srv:
        with srv.connect() as idle, srv.connect() as busy:
            buf = bytearray()
            busy.sendall(request("/echo", b"a"))
            read_response(busy, buf)
            idle.sendall(request("/echo", b"a"))
            read_response(idle, bytearray())
            time.sleep(0.6)
            busy.sendall(request("/echo", b"b"))  # active again before the first timer fires
            read_response(busy, buf)
            assert closed(idle, wait=1.5)  # ~1 s after its response
            time.sleep(0.1)
            busy.sendall(request("/echo", b"c"))  # 1.1 s after its first response, 0.5 after its last
            assert read_response(busy, buf)[2] == b"POST /echo  1:c"
            assert closed(busy, wait=2.5)
        with srv.connect() as slow:  # a request longer than the timeout is not cut off
            slow.settimeout(5)
            slow.sendall(request("/echo", b"x"))
            read_response(slow, bytearray())
            time.sleep(0.8)
            slow.sendall(request("/slow"))
            time.sleep(0.1)
            assert read_response(slow, bytearray())[2] == b"slow"


def test_graceful_shutdown_sends_what_was_answered() -> None:
    srv = Server()
    with srv:
        sock = srv.connect()
        sock.sendall(request("/slow"))
        time.sleep(0.1)
        srv.server.should_exit = True  # while the request is in flight
        _status, headers, body = read_response(sock, bytearray())
        assert body == b"slow"
        assert headers.get(b"connection") == b"close"
        assert closed(sock)
        sock.close()


async def header_app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        await app(scope, receive, send)
        return
    await receive()
    n = scope["query_string"].decode()
    headers = [
        [b"X-Mixed-Case", b"same"],  # a list pair, upper case: lowercased on the wire
        (b"content-length", b"2"),
        (b"x-request", n.encode()),  # different every request
        (b"connection", b"keep-alive"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


def test_repeated_and_unique_headers_over_many_responses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Header lines are validated and built once per distinct pair (a bounded memo, cleared when full):
    every response still carries its own values, and a bad value is refused after good ones were."""
    from adaptive_gateway.server import cycle

    monkeypatch.setattr(cycle, "_LINES_MAX", 8)  # cleared every few responses
    with Server(asgi=header_app) as srv, srv.connect() as sock:
        buf = bytearray()
        for i in range(30):
            sock.sendall(request(f"/?{i}", method="GET"))
            status, headers, body = read_response(sock, buf)
            assert (status, body) == (b"HTTP/1.1 200 OK", b"ok")
            assert headers[b"x-mixed-case"] == b"same" and headers[b"x-request"] == b"%d" % i
            assert b"connection" in headers
        assert len(cycle._LINES) <= 8
    # a value the gateway makes new for every response is checked and written, never remembered
    line, framing = cycle._header_line((b"x-request-id", b"req_1"))
    assert (line, framing) == (b"x-request-id: req_1\r\n", None)
    assert (b"x-request-id", b"req_1") not in cycle._LINES
    with pytest.raises(RuntimeError, match="header value"):
        cycle._header_line((b"x-request-id", b"req\n1"))
    with pytest.raises(RuntimeError, match="header value"):
        cycle._header_line((b"x-ok", b"bad\x01value"))
    assert (b"x-ok", b"bad\x01value") not in cycle._LINES


async def test_body_event_after_a_cancelled_wait() -> None:
    """A receive cancelled while waiting (a disconnect watcher stopped) must not poison the next wait."""
    from adaptive_gateway.server.cycle import BodyEvent

    event = BodyEvent(asyncio.get_running_loop())
    first = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    second = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0)
    assert not second.done()
    event.set()
    await asyncio.wait_for(second, 1)


async def test_write_batch_one_failure_does_not_hold_back_the_others() -> None:
    from adaptive_gateway.server.cycle import WriteBatch

    class FakeCycle:
        def __init__(self, fail: bool) -> None:
            self.fail, self.flushed, self.aborted = fail, False, False
            self.transport = self

        def abort(self) -> None:
            self.aborted = True

        def _flush(self) -> None:
            if self.fail:
                raise OSError("broken")
            self.flushed = True

    batch = WriteBatch(asyncio.get_running_loop())
    cycles = [FakeCycle(False), FakeCycle(True), FakeCycle(False)]
    for c in cycles:
        batch.add(c)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the batch goes out at the start of the next loop iteration
    assert [(c.flushed, c.aborted) for c in cycles] == [(True, False), (False, True), (True, False)]


async def http_app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    """The gateway's handlers' way: ``Http`` (whole body, whole response through ``adaptive.cycle``)."""
    if scope["type"] == "lifespan":
        await app(scope, receive, send)
        return
    from adaptive_gateway.server.http import Http

    http = Http(scope, receive, send)
    body = await http.body(1 << 20)
    via = b"cycle" if http._cycle is not None else b"asgi"
    if scope["path"] == "/headers-bad":
        await http.respond(200, b"x", [(b"x-bad", b"a\r\nb")])
        return
    if scope["path"] == "/whole-stream":
        await http.whole_stream(200, [(b"x-via", via)], b"text/event-stream", b"data: 1\n\ndata: 2\n\n")
        return
    await http.respond(201, b"%s %d:%s" % (via, len(body), body[:16]), [(b"x-n", b"%d" % len(body))])


def test_http_helper_goes_through_the_cycle_extension() -> None:
    """A body already there is taken and a whole response sent without the ASGI messages; a body that
    arrives later, chunked, and after 100-continue goes the usual way; HEAD and a refused header behave
    as through ``send``."""
    with Server(asgi=http_app) as srv, srv.connect() as sock:
        buf = bytearray()
        sock.sendall(request("/a", b"hello"))
        status, headers, body = read_response(sock, buf)
        assert (status, body, headers[b"x-n"]) == (b"HTTP/1.1 201 Created", b"cycle 5:hello", b"5")
        # the body in two parts, the second after the handler started waiting
        sock.sendall(b"POST /b HTTP/1.1\r\nhost: t\r\ncontent-length: 6\r\n\r\nabc")
        time.sleep(0.2)
        sock.sendall(b"def")
        assert read_response(sock, buf)[2] == b"cycle 6:abcdef"
        sock.sendall(b"POST /c HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n")
        sock.sendall(b"3\r\nxyz\r\n0\r\n\r\n")
        assert read_response(sock, buf)[2] == b"cycle 3:xyz"
        sock.sendall(b"POST /d HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\nexpect: 100-continue\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"ping")
        assert read_response(sock, buf)[2] == b"cycle 4:ping"
        sock.sendall(request("/e", method="HEAD"))
        time.sleep(0.2)
        head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 201 Created") and head.endswith(b"\r\n\r\n")
        assert b"content-length: 8\r\n" in head  # the length of the body HEAD does not send ("cycle 0:")
        sock.sendall(request("/whole-stream"))
        status, headers, body = read_response(sock, buf)
        assert headers[b"transfer-encoding"] == b"chunked" and headers[b"x-via"] == b"cycle"
        assert headers[b"cache-control"] == b"no-cache" and body == b"data: 1\n\ndata: 2\n\n"
        sock.sendall(request("/headers-bad"))
        assert read_response(sock, buf)[0] == b"HTTP/1.1 500 Internal Server Error"

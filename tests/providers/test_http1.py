"""The lean HTTP/1.1 upstream client (providers/http1.py) against real local servers: the project's fake
upstreams and small raw asyncio servers for the edge cases (keep-alive races, Connection: close, hangs,
drops, TLS, gzip)."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import orjson
import pytest
import uvloop

from adaptive_gateway.config import Provider
from adaptive_gateway.config.schema import Timeouts
from adaptive_gateway.errors import InvalidRequest, UpstreamTimeout, UpstreamUnreachable
from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.providers.base import UpstreamRequest
from adaptive_gateway.providers.http1 import Http1Client
from adaptive_gateway.providers.http1_conn import HIGH_WATER
from adaptive_gateway.providers.upstream import Upstream
from tests.support.gateway import free_port

LOCAL = "127.0.0.1"
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
JSON = {"content-type": "application/json", "authorization": "Bearer sk-test"}


def provider(
    url: str, *, max_connections: int = 8, connect: float = 5, read: float = 10, keepalive: bool = True
) -> Provider:
    return Provider(
        name="up", kind="openai-compatible", adapter="openai", base_url=url, auth="bearer", locality="local",
        timeouts=Timeouts(connect=connect, read=read, total=30), headers=(), max_connections=max_connections,
        keepalive=keepalive,
    )  # fmt: skip


def chat(url: str, stream: bool = False, headers: dict[str, str] | None = None) -> UpstreamRequest:
    body = orjson.dumps({**CHAT, "stream": stream})
    return UpstreamRequest("POST", url + "/v1/chat/completions", {**JSON, **(headers or {})}, body, stream)


async def wait_for(cond: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):  # a guard against hanging, not a timing assertion
        while not cond():
            await asyncio.sleep(0.005)


# ---- a raw HTTP/1.1 server for edge cases ---------------------------------------------------------------

Handler = Callable[["RawServer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One request (head + body) or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


def reply(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    headers = "".join(f"{h}\r\n" for h in extra)
    return f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n{headers}\r\n".encode() + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class RawServer:
    """Counts connections and requests; ``handler`` serves one connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.closed = 0
        self.requests: list[bytes] = []
        self.release = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            await self.handler(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed += 1
            writer.close()

    async def hold(self, reader: asyncio.StreamReader) -> bool:
        """Wait for ``release``; False when the client closed the connection first."""
        eof = asyncio.ensure_future(reader.read(1))
        released = asyncio.ensure_future(self.release.wait())
        done, pending = await asyncio.wait({eof, released}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return released in done

    async def next_request(self, reader: asyncio.StreamReader) -> bytes | None:
        req = await read_request(reader)
        if req is not None:
            self.requests.append(req)
        return req

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls())
        scheme = "https" if self.tls() else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    def tls(self) -> ssl.SSLContext | None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await wait_for(lambda: self.closed == self.connections)


async def keep_alive(srv: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await srv.next_request(reader) is not None:
        writer.write(reply(b'{"ok": true}', "content-type: application/json"))


async def held(srv: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers only once ``srv.release`` is set."""
    while await srv.next_request(reader) is not None:
        if not await srv.hold(reader):
            return
        writer.write(reply(b"{}"))


@pytest.fixture
async def client() -> AsyncIterator[Http1Client]:
    c = Http1Client()
    yield c
    await c.close()


# ---- exchanges ------------------------------------------------------------------------------------------


async def test_json_exchange_against_the_fake(client: Http1Client) -> None:
    async with FakeUpstream("openai") as fake:
        status, headers, body = await client.send(provider(fake.url), chat(fake.url))
        assert status == 200 and headers["content-type"].startswith("application/json")
        assert orjson.loads(body)["choices"][0]["message"]["role"] == "assistant"
        got = fake.received[-1]
        assert got.json["model"] == "gpt-test" and got.headers["authorization"] == "Bearer sk-test"
        assert got.headers["user-agent"] == "adaptive-llm-gateway"


@pytest.mark.parametrize("kind", ["http1", "aiohttp"])
async def test_upstream_switch_both_clients(kind: str) -> None:
    async with FakeUpstream("openai") as fake:
        up = Upstream(client=kind)  # type: ignore[arg-type]
        try:
            resp = await up.send(provider(fake.url), chat(fake.url))
            assert resp.status == 200 and b"chat.completion" in resp.body
            stream = await up.stream(provider(fake.url), chat(fake.url, stream=True))
            body = await stream.read()
            stream.close()
            assert stream.status == 200 and body.rstrip().endswith(b"data: [DONE]")
        finally:
            await up.close()


def test_runs_on_uvloop() -> None:
    async def main() -> None:
        async with FakeUpstream("openai", Knobs(tokens=5)) as fake:
            c = Http1Client()
            stream = await c.stream(provider(fake.url), chat(fake.url, stream=True))
            parts = [p async for p in stream.chunks()]
            stream.close()
            assert b"".join(parts).rstrip().endswith(b"[DONE]")
            await c.close()

    uvloop.run(main())


async def test_stream_is_read_incrementally(client: Http1Client) -> None:
    async def handler(srv: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.next_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        writer.write(chunk(b"data: one\n\n"))
        await srv.hold(reader)  # the rest only after the client saw the first event
        writer.write(chunk(b"data: two\n\n") + b"0\r\n\r\n")
        await read_request(reader)

    async with RawServer(handler) as srv:
        stream = await client.stream(provider(srv.url), chat(srv.url, stream=True))
        assert stream.status == 200 and stream.headers["content-type"] == "text/event-stream"
        it = stream.chunks()
        assert await anext(it) == b"data: one\n\n"
        srv.release.set()
        assert [c async for c in it] == [b"data: two\n\n"]
        stream.close()
        assert client.pool_for(provider(srv.url), srv.url).idle_connections == 1  # fully read: pooled


async def test_keep_alive_reuses_one_connection(client: Http1Client) -> None:
    async with RawServer(keep_alive) as srv:
        for _ in range(5):
            status, _, body = await client.send(provider(srv.url), chat(srv.url))
            assert (status, body) == (200, b'{"ok": true}')
        assert srv.connections == 1 and len(srv.requests) == 5
        head = srv.requests[0].split(b"\r\n\r\n")[0].lower()
        assert b"content-length: " in head and b"host: 127.0.0.1:" in head


async def test_provider_without_keepalive_gets_fresh_connections(client: Http1Client) -> None:
    async with RawServer(keep_alive) as srv:
        prov = provider(srv.url, keepalive=False)
        for stream in (False, True, False):
            if stream:
                up = await client.stream(prov, chat(srv.url, stream=True))
                assert await up.read() == b'{"ok": true}'
                up.close()
            else:
                assert (await client.send(prov, chat(srv.url)))[2] == b'{"ok": true}'
        assert srv.connections == 3 and all(b"\r\nconnection: close\r\n" in r for r in srv.requests)
        assert client.pool_for(prov, srv.url).idle_connections == 0


async def test_pool_limit_queues_waiters(client: Http1Client) -> None:
    async with RawServer(held) as srv:
        prov = provider(srv.url, max_connections=2)
        tasks = [asyncio.create_task(client.send(prov, chat(srv.url))) for _ in range(6)]
        await wait_for(lambda: len(srv.requests) == 2)
        pool = client.pool_for(prov, srv.url)
        assert pool.open_connections == 2 and not any(t.done() for t in tasks)
        srv.release.set()
        results = await asyncio.gather(*tasks)
        assert [r[0] for r in results] == [200] * 6
        assert srv.connections == 2 and len(srv.requests) == 6


async def test_pool_wait_times_out_as_upstream_timeout(client: Http1Client) -> None:
    async with RawServer(held) as srv:
        prov = provider(srv.url, max_connections=1, connect=0.2)
        first = asyncio.create_task(client.send(prov, chat(srv.url)))
        await wait_for(lambda: len(srv.requests) == 1)
        with pytest.raises(UpstreamTimeout):
            await client.send(prov, chat(srv.url))
        srv.release.set()
        assert (await first)[0] == 200


# ---- connections closed by the server ------------------------------------------------------------------


async def test_stale_keep_alive_connection_is_retried(client: Http1Client) -> None:
    async def one_per_connection(
        srv: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await srv.next_request(reader)
        writer.write(reply(b"{}"))  # keep-alive promised ...
        await srv.next_request(reader)  # ... but the next request is dropped unanswered

    async with RawServer(one_per_connection) as srv:
        for _ in range(3):
            assert (await client.send(provider(srv.url), chat(srv.url)))[0] == 200
        assert srv.connections == 3 and len(srv.requests) == 5  # 2 requests died with their connections


async def test_idle_connection_closed_by_server_is_dropped(client: Http1Client) -> None:
    async def close_after(srv: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.next_request(reader)
        writer.write(reply(b"{}"))
        await writer.drain()

    async with RawServer(close_after) as srv:
        prov = provider(srv.url)
        assert (await client.send(prov, chat(srv.url)))[0] == 200
        await wait_for(lambda: client.pool_for(prov, srv.url).open_connections == 0)
        assert (await client.send(prov, chat(srv.url)))[0] == 200
        assert srv.connections == 2


async def test_connection_close_and_body_until_eof(client: Http1Client) -> None:
    async def close_delimited(
        srv: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await srv.next_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\nuntil the end")

    async with RawServer(close_delimited) as srv:
        prov = provider(srv.url)
        for _ in range(2):
            assert await client.send(prov, chat(srv.url)) == (
                200, {"connection": "close", "content-type": "text/plain"}, b"until the end"
            )  # fmt: skip
        assert srv.connections == 2
        await wait_for(lambda: client.pool_for(prov, srv.url).open_connections == 0)


async def test_refused_connection_is_unreachable(client: Http1Client) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UpstreamUnreachable, match="up: ConnectionRefusedError"):
        await client.send(provider(url), chat(url))


# ---- timeouts ---------------------------------------------------------------------------------------------


async def test_connect_timeout_on_a_blackhole_port(client: Http1Client) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # never accepted: once the backlog is full, further SYNs are dropped
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        while True:  # fill the accept queue until a connect stops completing
            s = socket.socket()
            s.settimeout(0.2)
            fillers.append(s)
            try:
                s.connect(("127.0.0.1", port))
            except TimeoutError:
                break
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(UpstreamTimeout, match="no response within the timeout"):
            await client.send(provider(url, connect=0.2), chat(url))
    finally:
        for s in fillers:
            s.close()
        listener.close()


async def test_read_timeout_on_a_hanging_fake(client: Http1Client) -> None:
    async with FakeUpstream("openai", Knobs(hang=True)) as fake:
        with pytest.raises(UpstreamTimeout, match="up: no response within the timeout"):
            await client.send(provider(fake.url, read=0.2), chat(fake.url))
        with pytest.raises(UpstreamTimeout):
            await client.stream(provider(fake.url, read=0.2), chat(fake.url, stream=True))


async def test_stream_stall_is_a_read_timeout(client: Http1Client) -> None:
    async def stall(srv: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.next_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunk(b"data: 1\n\n"))
        await srv.hold(reader)

    async with RawServer(stall) as srv:
        stream = await client.stream(provider(srv.url, read=0.2), chat(srv.url, stream=True))
        it = stream.chunks()
        assert await anext(it) == b"data: 1\n\n"
        with pytest.raises(UpstreamTimeout, match="stalled"):
            await anext(it)
        stream.close()
        await wait_for(lambda: srv.closed == 1)


# ---- broken and cancelled exchanges -------------------------------------------------------------------


async def test_mid_stream_drop_is_unreachable(client: Http1Client) -> None:
    async with FakeUpstream("openai", Knobs(drop_after=2, tokens=8)) as fake:
        prov = provider(fake.url)
        stream = await client.stream(prov, chat(fake.url, stream=True))
        got: list[bytes] = []
        with pytest.raises(UpstreamUnreachable, match="stream broken"):
            async for part in stream.chunks():
                got.append(part)
        stream.close()
        assert b"data: " in b"".join(got)
        await wait_for(lambda: client.pool_for(prov, fake.url).open_connections == 0)


async def test_cancelled_request_closes_the_connection(client: Http1Client) -> None:
    async with RawServer(held) as srv:
        prov = provider(srv.url)
        task = asyncio.create_task(client.send(prov, chat(srv.url)))
        await wait_for(lambda: len(srv.requests) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_for(lambda: srv.closed == 1)  # the server saw the client go away
        await wait_for(lambda: client.pool_for(prov, srv.url).open_connections == 0)


async def test_half_read_stream_is_closed_not_pooled(client: Http1Client) -> None:
    async def endless(srv: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.next_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        while True:
            writer.write(chunk(b"data: x\n\n"))
            await writer.drain()
            await asyncio.sleep(0.01)

    async with RawServer(endless) as srv:
        prov = provider(srv.url)
        stream = await client.stream(prov, chat(srv.url, stream=True))
        it = stream.chunks()
        assert await anext(it)
        stream.close()
        await it.aclose()
        await wait_for(lambda: srv.closed == 1)
        assert client.pool_for(prov, srv.url).idle_connections == 0


async def test_slow_consumer_pauses_reading(client: Http1Client) -> None:
    blob = bytes(range(256)) * 8192  # 2 MiB

    async def big(srv: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.next_request(reader)
        writer.write(reply(blob))
        await writer.drain()
        await read_request(reader)

    async with RawServer(big) as srv:
        stream = await client.stream(provider(srv.url), chat(srv.url, stream=True))
        conn = stream._conn
        parts = []
        async for part in stream.chunks():
            parts.append(part)
            await asyncio.sleep(0.01)  # a lagging consumer
            assert conn.buffered <= HIGH_WATER + 512 * 1024
        assert b"".join(parts) == blob


async def test_header_with_line_break_is_refused(client: Http1Client) -> None:
    async with RawServer(keep_alive) as srv:
        with pytest.raises(InvalidRequest):
            await client.send(provider(srv.url), chat(srv.url, headers={"x-evil": "a\r\nx-injected: 1"}))
        assert srv.requests == []


# ---- encodings and TLS ---------------------------------------------------------------------------------


async def test_gzip_and_deflate_bodies_are_decoded(client: Http1Client) -> None:
    payload = orjson.dumps({"text": "hello " * 200})
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    bodies = {
        "gzip": gzip.compress(payload),
        "deflate": zlib.compress(payload),
        "deflate-raw": raw_deflate.compress(payload) + raw_deflate.flush(),
    }

    async def encoded(srv: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (req := await srv.next_request(reader)) is not None:
            kind = req.split(b"x-kind: ")[1].split(b"\r\n")[0].decode()
            encoding = kind.split("-")[0]
            if kind == "stream":
                data = gzip.compress(payload)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n"
                )
                writer.write(
                    b"".join(chunk(data[i : i + 100]) for i in range(0, len(data), 100)) + b"0\r\n\r\n"
                )
            else:
                writer.write(reply(bodies[kind], f"content-encoding: {encoding}"))

    async with RawServer(encoded) as srv:
        for kind in bodies:
            _, headers, body = await client.send(provider(srv.url), chat(srv.url, headers={"x-kind": kind}))
            assert body == payload and headers["content-encoding"] in ("gzip", "deflate")
        stream = await client.stream(provider(srv.url), chat(srv.url, True, {"x-kind": "stream"}))
        assert await stream.read() == payload
        assert b"accept-encoding: gzip, deflate" in srv.requests[0]


def self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOCAL))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_tls_with_a_custom_context(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    class TlsServer(RawServer):
        def tls(self) -> ssl.SSLContext:
            return server_ctx

    async with TlsServer(keep_alive) as srv:
        assert srv.url.startswith("https://")
        untrusting = Http1Client()
        with pytest.raises(UpstreamUnreachable, match="SSLCertVerificationError"):
            await untrusting.send(provider(srv.url), chat(srv.url))
        await untrusting.close()
        client = Http1Client(ssl.create_default_context(cafile=str(cert)))
        for _ in range(3):
            assert (await client.send(provider(srv.url), chat(srv.url)))[2] == b'{"ok": true}'
        assert srv.connections == 1  # one kept-alive TLS connection (the refused handshake never got in)
        await client.close()

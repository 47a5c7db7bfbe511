"""A lean HTTP/1.1 upstream client: asyncio protocols + httptools' C parser, one keep-alive pool per
(provider, scheme, host, port) of at most ``provider.max_connections`` connections.

It sends exactly what it is given (plus ``host``, ``content-length``, a ``user-agent`` and
``accept-encoding: gzip, deflate`` when the caller did not set them) in one write, and decodes gzip and
deflate answers. A reused idle connection that dies before the first response byte (the server closed
it while it sat in the pool) is retried once on a fresh one. Failures are mapped exactly like the aiohttp
executor maps them: timeouts to :class:`UpstreamTimeout`, transport failures to
:class:`UpstreamUnreachable`. Not supported: proxies, HTTP/2, request pipelining, 1xx other than
skipping them, HEAD requests (no response body expected), credentials in the URL.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from adaptive_gateway.config import Provider
from adaptive_gateway.config.schema import Timeouts
from adaptive_gateway.errors import InvalidRequest, UpstreamTimeout, UpstreamUnreachable
from adaptive_gateway.providers.base import UpstreamRequest
from adaptive_gateway.providers.http1_conn import Connection, ConnectionDropped
from adaptive_gateway.providers.http1_pool import Pool

_RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_DEFAULTS = (("user-agent", "adaptive-llm-gateway"), ("accept-encoding", "gzip, deflate"))
_DEFAULT_PORTS = {"http": 80, "https": 443}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ROUTE_CACHE_MAX = 4096
_TARGET_SAFE = "!$&'()*+,;=:@/?%~-._"


class _StaleConnection(Exception):
    """A reused idle connection died before answering: the request never reached the server."""


@dataclass(slots=True, frozen=True)
class _Route:
    pool: Pool
    prefix: str  # request line, host header (and "connection: close" when not keeping alive)
    keepalive: bool


class Http1Client:
    """Sends :class:`UpstreamRequest` for a :class:`Provider`. One instance per event loop; ``close()``
    when done. ``ssl_context`` (default: ``ssl.create_default_context()``) is used for https."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._pools: dict[tuple[str, int, str, str, int], Pool] = {}
        self._routes: dict[tuple[str, int, bool, str, str], _Route] = {}

    async def send(self, provider: Provider, req: UpstreamRequest) -> tuple[int, dict[str, str], bytes]:
        """A complete exchange: (status, lower-case headers, decoded body)."""
        route = self._route(provider, req.method, req.url)
        data = serialize(route.prefix, req.headers, req.body, req.method)
        conn = await self._exchange(provider.name, route.pool, data, False, provider.timeouts)
        status, headers, body = conn.status, conn.headers, conn.take()
        if conn.finish() and route.keepalive:
            route.pool.release(conn)
        else:
            conn.close()
        encoding = headers.get("content-encoding")
        if encoding is not None and body:
            body = _decode_all(provider.name, encoding, body)
        return status, headers, body

    async def stream(self, provider: Provider, req: UpstreamRequest) -> Http1Stream:
        """Send the request and return once the response headers arrived; the caller reads the body from
        the returned stream and always closes it."""
        route = self._route(provider, req.method, req.url)
        data = serialize(route.prefix, req.headers, req.body, req.method)
        conn = await self._exchange(provider.name, route.pool, data, True, provider.timeouts)
        return Http1Stream(conn, route.pool if route.keepalive else None)

    async def close(self) -> None:
        """Close every pooled and busy connection."""
        pools, self._pools = list(self._pools.values()), {}
        self._routes.clear()
        for pool in pools:
            pool.close()
        await asyncio.sleep(0)

    def pool_for(self, provider: Provider, url: str) -> Pool:
        """The pool that requests for ``url`` use (for tests and diagnostics)."""
        return self._route(provider, "GET", url).pool

    # ---- exchange -----------------------------------------------------------------------------------------

    async def _exchange(self, name: str, pool: Pool, data: bytes, streaming: bool, t: Timeouts) -> Connection:
        deadline = asyncio.get_running_loop().time() + t.total
        try:
            return await self._attempt(name, pool, data, streaming, t, deadline, False)
        except _StaleConnection:
            return await self._attempt(name, pool, data, streaming, t, deadline, True)

    async def _attempt(
        self, name: str, pool: Pool, data: bytes, streaming: bool, t: Timeouts, deadline: float, fresh: bool
    ) -> Connection:
        """One try on one connection: returns it with the headers (streaming) or the whole response."""
        try:
            conn = await pool.acquire(t.connect, fresh)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{name}: no response within the timeout") from exc
        except OSError as exc:
            raise UpstreamUnreachable(f"{name}: {exc.__class__.__name__}: {exc}") from exc
        try:
            conn.begin(data, streaming, t.read, deadline)
            if streaming:
                while not conn.headers_done:
                    await conn.wait()
            else:
                while not conn.complete:
                    await conn.wait()
        except BaseException as exc:
            conn.abort()
            failure = _failure(name, conn, exc, not fresh)
            if failure is exc:
                raise
            raise failure from exc
        return conn

    # ---- routes -------------------------------------------------------------------------------------------

    def _route(self, provider: Provider, method: str, url: str) -> _Route:
        key = (provider.name, provider.max_connections, provider.keepalive, method, url)
        route = self._routes.get(key)
        if route is None:
            if len(self._routes) >= _ROUTE_CACHE_MAX:
                self._routes.clear()
            route = self._routes[key] = self._new_route(provider, method, url)
        return route

    def _new_route(self, provider: Provider, method: str, url: str) -> _Route:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        if scheme not in _DEFAULT_PORTS or not host:
            raise UpstreamUnreachable(f"{provider.name}: unsupported upstream URL {url!r}")
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError as exc:
            raise UpstreamUnreachable(f"{provider.name}: bad port in upstream URL {url!r}") from exc
        key = (provider.name, provider.max_connections, scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            tls = self._tls() if scheme == "https" else None
            pool = self._pools[key] = Pool(host, port, provider.max_connections, tls)
        target = quote(parts.path or "/", safe=_TARGET_SAFE)
        if parts.query:
            target += "?" + quote(parts.query, safe=_TARGET_SAFE)
        prefix = f"{method} {target} HTTP/1.1\r\nhost: {parts.netloc.rpartition('@')[2]}\r\n"
        if not provider.keepalive:
            prefix += "connection: close\r\n"  # an upstream that closes after every exchange anyway
        return _Route(pool, prefix, provider.keepalive)

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl


def serialize(prefix: str, headers: Mapping[str, str], body: bytes | None, method: str) -> bytes:
    """The whole request as one bytes object. Raises InvalidRequest for a header with a line break."""
    lines = [prefix]
    names: set[str] = set()
    for name, value in headers.items():
        low = name.lower()
        if low not in _RESERVED:
            names.add(low)
            lines.append(f"{name}: {value}\r\n")
    for name, value in _DEFAULTS:
        if name not in names:
            lines.append(f"{name}: {value}\r\n")
    text = "".join(lines)
    expected = len(lines) - 1 + prefix.count("\n")
    if text.count("\n") != expected or text.count("\r") != expected:
        raise InvalidRequest("an upstream header contains a line break")
    if body is not None:
        return f"{text}content-length: {len(body)}\r\n\r\n".encode() + body
    if method in _BODY_METHODS:
        return f"{text}content-length: 0\r\n\r\n".encode()
    return f"{text}\r\n".encode()


def _failure(name: str, conn: Connection, exc: BaseException, may_retry: bool) -> BaseException:
    """The error to raise for ``exc`` during an exchange (``exc`` itself when it is not ours to map)."""
    if isinstance(exc, TimeoutError):
        phase = "response body timed out" if conn.headers_done else "no response within the timeout"
        return UpstreamTimeout(f"{name}: {phase}")
    if isinstance(exc, ConnectionDropped):
        if may_retry and conn.reused and not conn.got_bytes:
            return _StaleConnection()
        return UpstreamUnreachable(f"{name}: ConnectionDropped: {exc}")
    return exc


class Http1Stream:
    """An open streaming response: ``status``, lower-case ``headers``; iterate :meth:`chunks` for the
    decoded body as it arrives. Always :meth:`close` (idempotent): a half-read connection is closed, a
    fully read one goes back to the pool."""

    __slots__ = ("_conn", "_decoder", "_open", "_pool", "headers", "status")

    def __init__(self, conn: Connection, pool: Pool | None) -> None:
        self._conn = conn
        self._pool = pool  # None: never reuse the connection
        self._open = True
        self.status = conn.status
        self.headers = conn.headers
        encoding = conn.headers.get("content-encoding")
        self._decoder = _Decoder.for_encoding(encoding) if encoding else None

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """Body bytes as they arrive (de-chunked, decoded). Raises UpstreamTimeout / UpstreamUnreachable."""
        conn = self._conn
        try:
            while self._open:
                data = conn.take()
                if data:
                    data = self._decode(data)
                    if data:
                        yield data
                elif conn.complete:
                    tail = self._decode(b"", final=True)
                    self._finish()
                    if tail:
                        yield tail
                else:
                    await conn.wait()
        except TimeoutError as exc:
            self.close()
            raise UpstreamTimeout(f"upstream stream stalled ({exc})") from exc
        except ConnectionDropped as exc:
            self.close()
            raise UpstreamUnreachable(f"upstream stream broken: {exc}") from exc
        except BaseException:
            self.close()
            raise

    async def read(self) -> bytes:
        """The rest of the body."""
        return b"".join([chunk async for chunk in self.chunks()])

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        if self._conn.complete and not self._conn.parts:
            self._finish()
        else:
            self._conn.abort()

    def _finish(self) -> None:
        self._open = False
        if self._conn.finish() and self._pool is not None:
            self._pool.release(self._conn)
        else:
            self._conn.close()

    def _decode(self, data: bytes, final: bool = False) -> bytes:
        if self._decoder is None:
            return data
        try:
            return self._decoder.feed(data) + (self._decoder.flush() if final else b"")
        except zlib.error as exc:
            raise ConnectionDropped(f"undecodable {self.headers.get('content-encoding')} body") from exc


class _Decoder:
    """Incremental gzip / deflate (zlib-wrapped or raw) decoding."""

    __slots__ = ("_raw_ok", "_z")

    def __init__(self, wbits: int, raw_ok: bool) -> None:
        self._z = zlib.decompressobj(wbits=wbits)
        self._raw_ok = raw_ok

    @staticmethod
    def for_encoding(encoding: str) -> _Decoder | None:
        """A decoder for a Content-Encoding value, or None (identity, or not one we can decode)."""
        enc = encoding.strip().lower()
        if enc in ("gzip", "x-gzip"):
            return _Decoder(zlib.MAX_WBITS | 16, False)
        if enc == "deflate":
            return _Decoder(zlib.MAX_WBITS, True)
        return None

    def feed(self, data: bytes) -> bytes:
        try:
            out = self._z.decompress(data)
        except zlib.error:
            if not self._raw_ok:
                raise
            # "deflate" sent without the zlib wrapper, as some servers do
            self._z, self._raw_ok = zlib.decompressobj(wbits=-zlib.MAX_WBITS), False
            out = self._z.decompress(data)
        self._raw_ok = False
        return out

    def flush(self) -> bytes:
        return self._z.flush()


def _decode_all(name: str, encoding: str, body: bytes) -> bytes:
    decoder = _Decoder.for_encoding(encoding)
    if decoder is None:
        return body
    try:
        return decoder.feed(body) + decoder.flush()
    except zlib.error as exc:
        raise UpstreamUnreachable(f"{name}: undecodable {encoding} body") from exc

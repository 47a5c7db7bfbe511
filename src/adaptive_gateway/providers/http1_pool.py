"""A keep-alive pool of :class:`Connection` to one origin: at most ``limit`` open connections, idle ones
reused last-in first-out, and a FIFO of waiters when all are busy.

Every open connection holds one slot, freed when its socket is gone (``connection_lost``). A freed slot
goes to the oldest waiter, which then connects; a released connection goes to the oldest waiter too.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque

from adaptive_gateway.providers.http1_conn import Connection

KEEPALIVE_SECONDS = 60.0


class Pool:
    """Connections to ``host:port`` (TLS when ``ssl_context`` is given)."""

    __slots__ = ("_conns", "_idle", "_open", "_waiters", "host", "limit", "port", "ssl_context")

    def __init__(self, host: str, port: int, limit: int, ssl_context: ssl.SSLContext | None) -> None:
        self.host = host
        self.port = port
        self.limit = limit
        self.ssl_context = ssl_context
        self._idle: deque[Connection] = deque()
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()
        self._conns: set[Connection] = set()
        self._open = 0

    @property
    def open_connections(self) -> int:
        """Connections holding a slot (idle, busy or still connecting)."""
        return self._open

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def acquire(self, connect_timeout: float, fresh: bool = False) -> Connection:
        """A connection ready for one exchange: an idle one (unless ``fresh``), a new one, or the next one
        released. Waiting for a slot and connecting share ``connect_timeout`` (raises TimeoutError)."""
        if not fresh:
            conn = self._pop_idle()
            if conn is not None:
                return conn
        async with asyncio.timeout(connect_timeout):
            if self._open < self.limit:
                self._open += 1
            else:
                got = await self._queue()
                if got is not None:
                    return got
            return await self._connect()

    def release(self, conn: Connection) -> None:
        """Give back a connection whose exchange finished cleanly (``conn.finish()`` was True)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                conn.reused = True
                waiter.set_result(conn)
                return
        now = conn.loop.time()
        conn.idle_since = now
        conn.in_pool = True
        idle = self._idle
        idle.append(conn)
        if now - idle[0].idle_since > KEEPALIVE_SECONDS:  # trim the longest idle one
            old = idle.popleft()
            old.in_pool = False
            old.close()

    def close(self) -> None:
        """Close every connection (idle and busy); waiters get a ConnectionError."""
        for conn in list(self._conns):
            conn.abort()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError("connection pool closed"))

    # ---- internals --------------------------------------------------------------------------------------

    def _pop_idle(self) -> Connection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()
            conn.in_pool = False
            if conn.closed:
                continue
            if conn.loop.time() - conn.idle_since > KEEPALIVE_SECONDS:
                conn.close()
                continue
            conn.reused = True
            return conn
        return None

    async def _queue(self) -> Connection | None:
        """Wait for a released connection, or None: a freed slot that is now ours."""
        fut: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            return await fut
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                got = fut.result()  # handed over just as we gave up: pass it on
                if got is None:
                    self._free_slot()
                else:
                    self.release(got)
            raise

    async def _connect(self) -> Connection:
        """Open a connection on a slot already counted in ``_open``."""
        loop = asyncio.get_running_loop()
        conn = Connection(loop, self._lost)
        tls = self.ssl_context
        try:
            await loop.create_connection(
                lambda: conn, self.host, self.port, ssl=tls, server_hostname=self.host if tls else None
            )
        except BaseException:
            if conn.transport is None:
                self._free_slot()
            else:
                conn.abort()  # connection_lost frees the slot
            raise
        self._conns.add(conn)
        return conn

    def _lost(self, conn: Connection) -> None:
        self._conns.discard(conn)
        if conn.in_pool:
            conn.in_pool = False
            try:
                self._idle.remove(conn)
            except ValueError:
                pass
        self._free_slot()

    def _free_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter
                return
        self._open -= 1

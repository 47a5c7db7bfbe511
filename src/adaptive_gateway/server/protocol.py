"""The HTTP/1.1 protocol the gateway serves with: uvicorn's httptools protocol with a leaner request cycle.

uvicorn's ``HttpToolsProtocol`` keeps doing what a server must get right and is not per request
(connection bookkeeping, parser errors -> 400, header parsing, upgrades, flow control, pipelining,
graceful shutdown); this subclass replaces only the per-request steps, each of which showed up in the
gateway's CPU per request (docs/benchmarks.md, ninth session):

* the request cycle is :class:`~adaptive_gateway.server.cycle.Cycle` (slotted, no ``asyncio.Event`` per
  request, responses written in one batch per loop iteration: server/cycle.py);
* the keep-alive timeout is one timer per connection, armed when the connection first goes idle and
  re-armed lazily when it fires, instead of a timer made and cancelled for every request;
* a plain path (no query, no escapes) skips URL parsing.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT, service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from adaptive_gateway.server.cycle import Cycle, batch_for


class GatewayHttpProtocol(HttpToolsProtocol):
    """uvicorn's protocol with :class:`Cycle` as the request cycle (see the module docstring)."""

    idle_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._batch = batch_for(self.loop)

    def shutdown(self) -> None:
        cycle = self.cycle
        if cycle is not None:
            cycle._flush()  # type: ignore[attr-defined]  # a finished response still in the batch
        super().shutdown()

    def _unset_keepalive_if_required(self) -> None:
        """uvicorn calls this as a request's data arrives (and when the connection is lost): the
        connection is busy; the timer stays and finds it so when it fires (``_keep_alive_due``)."""
        self.idle_since = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        timer = self.timeout_keep_alive_task
        if timer is not None:  # not kept (with this protocol) until it would have fired
            self.timeout_keep_alive_task = None
            timer.cancel()

    def on_headers_complete(self) -> None:
        parser = self.parser
        scope: dict[str, Any] = self.scope  # type: ignore[assignment]
        http_version = parser.get_http_version()
        scope["method"] = parser.get_method().decode("ascii")
        if http_version != "1.1":
            scope["http_version"] = http_version
        if parser.should_upgrade() and self._should_upgrade():
            return
        url = self.url
        if url[:1] == b"/" and b"?" not in url and b"%" not in url and b"#" not in url:
            raw_path = url
            path = url.decode("ascii")
            query = b""
        else:
            parsed = httptools.parse_url(url)
            raw_path = parsed.path
            path = raw_path.decode("ascii")
            if "%" in path:
                path = urllib.parse.unquote(path)
            query = parsed.query or b""
        root = self.root_path
        if root:
            scope["path"] = root + path
            scope["raw_path"] = root.encode("ascii") + raw_path
        else:
            scope["path"] = path
            scope["raw_path"] = raw_path
        scope["query_string"] = query

        limit = self.limit_concurrency
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            app = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")
        else:
            app = self.app
        existing = self.cycle
        self.cycle = cycle = Cycle(  # type: ignore[assignment]
            scope,
            self.transport,
            self.flow,
            self.loop,
            self.expect_100_continue,
            http_version != "1.0" and parser.should_keep_alive(),
            self.on_response_complete,
            self.server_state.default_headers,  # replaced each second when the server adds a date
            self._batch,
        )
        if existing is None or existing.response_complete:
            self._start_asgi_task(cycle, app)  # type: ignore[arg-type]
        else:  # pipelined: queued until the one before it is answered
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, app))  # type: ignore[arg-type]

    def on_body(self, body: bytes) -> None:
        cycle: Cycle = self.cycle  # type: ignore[assignment]
        if cycle.response_complete or (self.parser.should_upgrade() and self._should_upgrade()):
            return
        cycle.chunks.append(body)
        cycle.size += len(body)
        if cycle.size > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()

    def on_message_complete(self) -> None:
        cycle: Cycle = self.cycle  # type: ignore[assignment]
        if cycle.response_complete or (self.parser.should_upgrade() and self._should_upgrade()):
            return
        cycle.more_body = False
        cycle.message_event.set()

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self.idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_due)

    def _keep_alive_due(self) -> None:
        """The keep-alive timer: close if idle for the whole timeout, else wait for the rest of it."""
        self.timeout_keep_alive_task = None
        if self.transport.is_closing():
            return
        since = self.idle_since
        if since is None:  # a request is being read or answered: it re-arms when done
            return
        left = since + self.timeout_keep_alive - self.loop.time()
        if left <= 0:
            self.transport.close()
        else:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_due)

"""The one HTTP executor: a keep-alive connection pool per upstream, connect / read / total timeouts,
and transport failures mapped to :class:`UpstreamTimeout` / :class:`UpstreamUnreachable`.

Two interchangeable clients do the HTTP: the lean HTTP/1.1 client in ``providers/http1.py`` and aiohttp's
``ClientSession``. ``Upstream(client=...)`` picks one; ``"auto"`` reads ``ADAPTIVE_GATEWAY_UPSTREAM_CLIENT``
(``http1`` / ``aiohttp``) and falls back to :data:`DEFAULT_CLIENT` (see docs/benchmarks.md for why).

Adapters never import this module; the pipeline hands their :class:`UpstreamRequest` to it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

import aiohttp

from adaptive_gateway.config import Provider
from adaptive_gateway.errors import UpstreamTimeout, UpstreamUnreachable
from adaptive_gateway.providers.base import UpstreamRequest
from adaptive_gateway.providers.http1 import Http1Client

ClientName = Literal["auto", "http1", "aiohttp"]
DEFAULT_CLIENT: ClientName = "http1"
CLIENT_ENV = "ADAPTIVE_GATEWAY_UPSTREAM_CLIENT"


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class StreamBody(Protocol):
    """What a client's open streaming response provides to :class:`UpstreamStream`."""

    status: int
    headers: dict[str, str]

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class UpstreamStream:
    """An open streaming response: ``status``, lower-case ``headers``; iterate ``chunks()`` for raw body
    bytes as they arrive; always ``close()`` (idempotent; a half-read connection is closed, not pooled)."""

    __slots__ = ("_body", "headers", "status")

    def __init__(self, body: StreamBody) -> None:
        self._body = body
        self.status = body.status
        self.headers = body.headers

    async def read(self) -> bytes:
        """The rest of the body."""
        return await self._body.read()

    def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive; raises UpstreamTimeout / UpstreamUnreachable."""
        return self._body.chunks()

    def close(self) -> None:
        self._body.close()


_TRANSPORT_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError)


class _AiohttpBody:
    """An aiohttp response as a :class:`StreamBody`."""

    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.headers.items()}

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout("upstream stream stalled (read timeout)") from exc
        except _TRANSPORT_ERRORS as exc:
            raise UpstreamUnreachable(f"upstream stream broken: {exc.__class__.__name__}") from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout("upstream stream stalled (read timeout)") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnreachable(f"upstream stream broken: {exc.__class__.__name__}") from exc

    def close(self) -> None:
        # close (not release): a half-read stream must not return its connection to the pool
        self._resp.close()


class Upstream:
    """Sends upstream requests through the chosen client (see the module docstring)."""

    def __init__(self, client: ClientName = "auto") -> None:
        if client == "auto":
            env = os.environ.get(CLIENT_ENV, "").strip().lower()
            client = env if env in ("http1", "aiohttp") else DEFAULT_CLIENT  # type: ignore[assignment]
        self.client: ClientName = client
        self._http1 = Http1Client() if client == "http1" else None
        self._aiohttp = AiohttpClient()

    async def send(self, provider: Provider, req: UpstreamRequest) -> UpstreamResponse:
        """A complete (non-streaming) exchange."""
        if self._http1 is not None:
            status, headers, body = await self._http1.send(provider, req)
            return UpstreamResponse(status, headers, body)
        return await self._aiohttp.send(provider, req)

    async def stream(self, provider: Provider, req: UpstreamRequest) -> UpstreamStream:
        """Open a streaming exchange; the caller iterates and closes it."""
        if self._http1 is not None:
            return UpstreamStream(await self._http1.stream(provider, req))
        return await self._aiohttp.stream(provider, req)

    async def close(self) -> None:
        if self._http1 is not None:
            await self._http1.close()
        await self._aiohttp.close()


class AiohttpClient:
    """The aiohttp executor: one ``aiohttp.ClientSession`` (connection pool) per provider."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str, int], aiohttp.ClientSession] = {}

    def _session(self, provider: Provider) -> aiohttp.ClientSession:
        key = (provider.name, provider.base_url, provider.max_connections)
        session = self._sessions.get(key)
        if session is None or session.closed:
            # aiohttp refuses a keep-alive timeout together with force_close
            reuse: dict[str, float] = {"keepalive_timeout": 60} if provider.keepalive else {}
            connector = aiohttp.TCPConnector(
                force_close=not provider.keepalive,
                limit=provider.max_connections,
                limit_per_host=provider.max_connections,
                ttl_dns_cache=300,
                **reuse,  # type: ignore[arg-type]
            )
            session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                headers={"user-agent": "adaptive-llm-gateway"},
            )
            self._sessions[key] = session
        return session

    @staticmethod
    def _timeout(provider: Provider) -> aiohttp.ClientTimeout:
        t = provider.timeouts
        return aiohttp.ClientTimeout(total=t.total, connect=t.connect, sock_read=t.read)

    async def _open(self, provider: Provider, req: UpstreamRequest) -> aiohttp.ClientResponse:
        try:
            return await self._session(provider).request(
                req.method, req.url, data=req.body, headers=req.headers, timeout=self._timeout(provider)
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout(f"{provider.name}: no response within the timeout") from exc
        except _TRANSPORT_ERRORS as exc:
            raise UpstreamUnreachable(f"{provider.name}: {exc.__class__.__name__}: {exc}") from exc

    async def send(self, provider: Provider, req: UpstreamRequest) -> UpstreamResponse:
        """A complete (non-streaming) exchange."""
        resp = await self._open(provider, req)
        try:
            body = await resp.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout(f"{provider.name}: response body timed out") from exc
        except _TRANSPORT_ERRORS as exc:
            raise UpstreamUnreachable(f"{provider.name}: {exc.__class__.__name__}") from exc
        finally:
            resp.release()
        return UpstreamResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body)

    async def stream(self, provider: Provider, req: UpstreamRequest) -> UpstreamStream:
        """Open a streaming exchange; the caller iterates and closes it."""
        return UpstreamStream(_AiohttpBody(await self._open(provider, req)))

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)

"""The aiohttp executor behind :class:`~adaptive_gateway.providers.upstream.Upstream` when
``ADAPTIVE_GATEWAY_UPSTREAM_CLIENT=aiohttp`` (the lean client in ``providers/http1.py`` is the default)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp

from adaptive_gateway.config import Provider
from adaptive_gateway.errors import UpstreamTimeout, UpstreamUnreachable
from adaptive_gateway.providers.base import UpstreamRequest
from adaptive_gateway.providers.upstream import UpstreamResponse, UpstreamStream

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

"""The one HTTP executor: a keep-alive connection pool per upstream, connect / read / total timeouts,
and transport failures mapped to :class:`UpstreamTimeout` / :class:`UpstreamUnreachable`.

Two interchangeable clients do the HTTP: the lean HTTP/1.1 client in ``providers/http1.py`` and aiohttp's
``ClientSession``. ``Upstream(client=...)`` picks one; ``"auto"`` reads ``ADAPTIVE_GATEWAY_UPSTREAM_CLIENT``
(``http1`` / ``aiohttp``) and falls back to :data:`DEFAULT_CLIENT` (see docs/benchmarks.md for why).

Adapters never import this module; the pipeline hands their :class:`UpstreamRequest` to it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from adaptive_gateway.config import Provider
from adaptive_gateway.providers.base import UpstreamRequest
from adaptive_gateway.providers.http1 import Http1Client

if TYPE_CHECKING:
    from adaptive_gateway.providers.upstream_aiohttp import AiohttpClient

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


class Upstream:
    """Sends upstream requests through the chosen client (see the module docstring)."""

    def __init__(self, client: ClientName = "auto") -> None:
        if client == "auto":
            env = os.environ.get(CLIENT_ENV, "").strip().lower()
            client = env if env in ("http1", "aiohttp") else DEFAULT_CLIENT  # type: ignore[assignment]
        self.client: ClientName = client
        self._http1 = Http1Client() if client == "http1" else None
        self._aiohttp: AiohttpClient | None = None
        if self._http1 is None:  # aiohttp (about 14 MB) is imported only when it is chosen
            from adaptive_gateway.providers.upstream_aiohttp import AiohttpClient

            self._aiohttp = AiohttpClient()

    async def send(self, provider: Provider, req: UpstreamRequest) -> UpstreamResponse:
        """A complete (non-streaming) exchange."""
        if self._http1 is not None:
            status, headers, body = await self._http1.send(provider, req)
            return UpstreamResponse(status, headers, body)
        assert self._aiohttp is not None
        return await self._aiohttp.send(provider, req)

    async def stream(self, provider: Provider, req: UpstreamRequest) -> UpstreamStream:
        """Open a streaming exchange; the caller iterates and closes it."""
        if self._http1 is not None:
            return UpstreamStream(await self._http1.stream(provider, req))
        assert self._aiohttp is not None
        return await self._aiohttp.stream(provider, req)

    async def close(self) -> None:
        if self._http1 is not None:
            await self._http1.close()
        if self._aiohttp is not None:
            await self._aiohttp.close()

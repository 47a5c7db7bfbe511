"""An ASGI app built on its first request.

The admin API (FastAPI) and the MCP endpoint (the MCP SDK) are used by a few requests an hour, and
importing them costs a serving worker 20-45 MB for its whole life. Mounting them through
:class:`LazyApp` keeps them out of workers that only proxy model traffic; the first request to the
mount pays the import (a few hundred milliseconds, once per worker).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from adaptive_gateway.server.http import Receive, Scope, Send

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LazyApp:
    def __init__(self, build: Callable[[], Awaitable[ASGIApp]]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        if app is None:
            async with self._lock:  # concurrent first requests build once
                if self._app is None:
                    self._app = await self._build()
                app = self._app
        await app(scope, receive, send)

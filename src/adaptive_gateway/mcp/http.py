"""``/mcp``: the streamable-HTTP MCP endpoint (POST, GET stream, DELETE), behind gateway keys.

Every HTTP request is authenticated with the gateway's own key check (``Authorization: Bearer``,
``x-api-key``; master or virtual keys, with the guards extensions add, such as the per-address limit
on failed keys) before the SDK's session manager sees it. The caller rides along in the ASGI scope,
and a session is bound to the key that opened it (the SDK answers 404 to another key). A missing or
wrong key gets a 401 with a JSON-RPC error body and a ``WWW-Authenticate: Bearer`` header that says
plainly a gateway key is needed (the MCP Inspector would otherwise go looking for OAuth).

The SDK server is built on the first authenticated request (or by ``start()`` when the gateway must
connect upstream MCP servers at once): the MCP SDK costs a worker ~30 MB, and most workers only proxy
model traffic. A request without a valid key never causes the build.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson

from adaptive_gateway.errors import AuthenticationFailed, GatewayError
from adaptive_gateway.mcp.context import SCOPE_KEY, Caller
from adaptive_gateway.mcp.names import agent_name
from adaptive_gateway.pipeline.auth import presented_key
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import Gateway

if TYPE_CHECKING:
    from mcp.server import Server
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

REALM = "adaptive-llm-gateway"
NEEDS_KEY = (
    "This MCP endpoint needs an Adaptive LLM Gateway key: send 'Authorization: Bearer <gateway key>' (the "
    "master key or a virtual key). OAuth is not used."
)
AGENT_HEADER = "x-adaptive-agent"


def unauthorized_response(
    err: AuthenticationFailed, presented: bool
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and JSON-RPC error body of a 401."""
    challenge = f'Bearer realm="{REALM}: send your gateway key as Authorization: Bearer <key>"'
    if presented:
        challenge += f', error="invalid_token", error_description="{err.message}"'
    body = orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {
                "code": -32001,
                "message": f"Unauthorized: {err.message.rstrip('.')}. {NEEDS_KEY}"
                if presented
                else NEEDS_KEY,
                "data": {"type": err.type, "code": err.code, "http_status": 401},
            },
        }
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", challenge.encode("latin-1", "replace")),
    ]
    return headers, body


class McpHttpEndpoint:
    """The ASGI app mounted at ``/mcp``; the SDK's session manager runs from the first authenticated
    request (or ``start()``) until ``stop()``. ``build`` makes the SDK server."""

    def __init__(
        self,
        gateway: Gateway,
        build: Callable[[], Awaitable[Server[Any]]],
        *,
        session_idle_timeout: float = 1800.0,
    ) -> None:
        self.gateway = gateway
        self.build = build
        self.session_idle_timeout = session_idle_timeout
        self.manager: StreamableHTTPSessionManager | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._starting = asyncio.Lock()
        self._stopped = False

    async def start(self) -> None:
        """Build the server and run the session manager in its own task (its task group lives there
        until ``stop()``); a no-op when it runs already."""
        async with self._starting:
            if self.manager is not None or self._stopped:
                return
            from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

            manager = StreamableHTTPSessionManager(
                app=await self.build(), session_idle_timeout=self.session_idle_timeout
            )
            started = asyncio.Event()
            self._stop = asyncio.Event()

            async def run() -> None:
                async with manager.run():
                    started.set()
                    await self._stop.wait()

            self._task = asyncio.get_running_loop().create_task(run(), name="mcp-session-manager")
            waiter = asyncio.ensure_future(started.wait())
            await asyncio.wait([waiter, self._task], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if self._task.done():
                self._task.result()  # raises what made it fail
            self.manager = manager

    async def stop(self) -> None:
        self._stopped = True
        self.manager = None
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client")
        gw = self.gateway
        ctx = RequestContext("mcp", "/mcp", gw.config, headers, str(client[0]) if client else "")
        try:
            gw.authenticate(ctx)  # the gateway's own check, with whatever guards extensions add
        except GatewayError as err:
            await _refuse(send, err, presented=presented_key(headers) is not None)
            return
        if self.manager is None and not self._stopped:
            await self.start()
        manager = self.manager
        if manager is None:
            await _respond(send, 503, b'{"error": {"message": "the MCP endpoint is stopping"}}')
            return
        from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
        from mcp.server.auth.provider import AccessToken

        principal = ctx.principal
        assert principal is not None
        scope[SCOPE_KEY] = Caller(
            principal,
            ctx.provider_key,
            headers,
            ctx.client_ip,
            default_agent=agent_name(headers.get(AGENT_HEADER)),
            transport="http",
        )
        # the SDK binds each session to the credential that opened it
        token = AccessToken(
            token=principal.key_prefix or principal.id,
            client_id=f"{principal.kind}:{principal.id}",
            scopes=[],
        )
        scope["user"] = AuthenticatedUser(token)
        await manager.handle_request(scope, receive, send)


async def _refuse(send: Send, err: GatewayError, *, presented: bool) -> None:
    if isinstance(err, AuthenticationFailed):
        headers, body = unauthorized_response(err, presented)
    else:  # e.g. 429 after too many failed keys from one address
        body = orjson.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": err.message}})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

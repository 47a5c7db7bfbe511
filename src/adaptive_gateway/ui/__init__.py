"""The dashboard: static assets (``ui/static/``: plain HTML, CSS and JavaScript, no build step, nothing
fetched from a CDN) and the small ASGI app that serves them at ``/ui``.

The pages hold no data: the browser asks the gateway's APIs for it with the key the user logs in with
(kept in ``sessionStorage``, sent as ``Authorization: Bearer``), so the assets themselves are public.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
}
# the pages may only talk to their own origin and run their own scripts
SECURITY = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


class StaticUI:
    """Serves the files of ``root`` under ``prefix``; ``prefix`` itself is ``index.html``. Files are
    read once, at start, so a request never touches the disk (and never a path outside ``root``)."""

    def __init__(self, prefix: str = "/ui", root: Path = STATIC) -> None:
        self.prefix = prefix.rstrip("/")
        self.files: dict[str, tuple[bytes, bytes, bytes]] = {}
        for path in sorted(root.rglob("*")):
            kind = TYPES.get(path.suffix)
            if path.is_file() and kind is not None:
                data = path.read_bytes()
                etag = b'"' + hashlib.sha256(data).hexdigest()[:16].encode() + b'"'
                self.files["/" + path.relative_to(root).as_posix()] = (data, kind, etag)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rel = scope["path"][len(self.prefix) :]
        if rel == "":  # relative asset paths need the trailing slash
            await _respond(send, 308, b"", b"text/plain", [(b"location", (self.prefix + "/").encode())])
            return
        if rel == "/":
            rel = "/index.html"
        found = self.files.get(rel) if scope.get("method") in ("GET", "HEAD") else None
        if found is None:
            await _respond(send, 404, b"not found", b"text/plain; charset=utf-8", [])
            return
        data, kind, etag = found
        headers = [(b"etag", etag), (b"cache-control", b"no-cache"), *SECURITY]
        if dict(scope.get("headers", [])).get(b"if-none-match") == etag:
            await _respond(send, 304, b"", kind, headers)
            return
        await _respond(send, 200, b"" if scope["method"] == "HEAD" else data, kind, headers)


async def _respond(send: Send, status: int, body: bytes, kind: bytes, headers: Headers) -> None:
    hdrs = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})

"""The one way discovery talks HTTP: a GET/POST that returns the body or None, never raises."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Response:
    status: int
    body: Any  # parsed JSON when the body is JSON, else the text
    latency_ms: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


async def fetch(
    session: aiohttp.ClientSession, url: str, *, json_body: Any = None, max_bytes: int = 4_000_000
) -> Response | None:
    """GET ``url`` (POST when ``json_body`` is given). Network errors and timeouts give None."""
    started = time.perf_counter()
    method = "GET" if json_body is None else "POST"
    try:
        async with session.request(method, url, json=json_body, allow_redirects=False) as resp:
            raw = await _read_capped(resp, max_bytes)
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
        return None
    latency = (time.perf_counter() - started) * 1000
    return Response(status, _decode(raw), round(latency, 1))


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The whole body, but never more than ``max_bytes`` of it."""
    body = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        body += chunk[: max_bytes - len(body)]
        if len(body) >= max_bytes:
            break
    return bytes(body)


def _decode(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def new_session(timeout_s: float, connector: aiohttp.BaseConnector | None = None) -> aiohttp.ClientSession:
    """A session with a short total timeout that ignores proxy settings (targets are local)."""
    timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=timeout_s)
    return aiohttp.ClientSession(timeout=timeout, connector=connector, trust_env=False)

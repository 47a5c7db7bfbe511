"""Fit a request to one deployment before its adapter builds the upstream call.

* Refuse malformed tool schemas (a 400 naming the tool) before any upstream sees them.
* Refuse what the target cannot take, naming the field: tools on a deployment configured with
  ``supports_tools: false``, content types the adapter does not carry (``input_types``; audio to Ollama),
  built-in tools of another format. These raise :class:`CapabilityMismatch`, which lets the executor
  try the next candidate; when none can, the client gets a 400.
* Inline ``http(s)`` image URLs as base64 for adapters that need it (``inline_images``: Gemini and Ollama
  cannot fetch arbitrary URLs), with a size limit and a timeout; a failure is a 400 naming the field.

Same-format passthrough requests are forwarded as the client sent them, so nothing is inlined.
"""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING, Any

from adaptive_gateway.config import Deployment
from adaptive_gateway.errors import InvalidRequest, UnsupportedContent
from adaptive_gateway.formats.common import parse_data_url
from adaptive_gateway.formats.validate import check_schema
from adaptive_gateway.types import ChatRequest, ContentPart

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0
# what an adapter that declares no ``input_types`` is assumed to carry
ANY_CONTENT = frozenset({"text", "image", "audio", "file"})
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)

if TYPE_CHECKING:
    import aiohttp


class CapabilityMismatch(UnsupportedContent):
    """This deployment cannot take the request (tools, a content type); another candidate may."""


def _sniff(data: bytes, declared: str) -> str | None:
    if declared.startswith("image/"):
        return declared
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((media for magic, media in _MAGIC if data.startswith(magic)), None)


class MediaFetcher:
    """Fetches image URLs for inlining. Owns one ``aiohttp`` session, created on first use;
    ``max_bytes`` and ``timeout`` (seconds, whole download) may be changed at any time."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        import aiohttp  # imported on the first image fetch: most workers never need it

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"user-agent": "adaptive-llm-gateway"})
        return self._session

    async def fetch(self, url: str, where: str) -> tuple[str, str]:
        """``(media type, base64 data)`` of the image at ``url``; :class:`InvalidRequest` naming ``where``
        when it is unreachable, slow, too large or not an image."""
        import aiohttp

        try:
            async with asyncio.timeout(self.timeout):
                data, declared = await self._download(url, where)
        except TimeoutError:
            raise InvalidRequest(
                f"{where}: image {url} did not arrive within {self.timeout:g}s",
                param=where,
                code="image_unreachable",
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise InvalidRequest(
                f"{where}: image {url} is unreachable ({exc.__class__.__name__}: {exc})",
                param=where,
                code="image_unreachable",
            ) from None
        media = _sniff(data, declared)
        if media is None:
            raise InvalidRequest(
                f"{where}: {url} is not an image (content type {declared or 'unknown'})",
                param=where,
                code="invalid_image",
            )
        return media, base64.b64encode(data).decode()

    async def _download(self, url: str, where: str) -> tuple[bytes, str]:
        async with self._client().get(url) as resp:
            if resp.status >= 400:
                raise InvalidRequest(
                    f"{where}: fetching image {url} returned HTTP {resp.status}",
                    param=where,
                    code="image_unreachable",
                )
            if resp.content_length is not None and resp.content_length > self.max_bytes:
                raise self._too_large(url, where)
            buf = bytearray()
            async for chunk in resp.content.iter_chunked(65536):
                buf += chunk
                if len(buf) > self.max_bytes:
                    raise self._too_large(url, where)
            return bytes(buf), resp.content_type or ""

    def _too_large(self, url: str, where: str) -> InvalidRequest:
        return InvalidRequest(
            f"{where}: image {url} is larger than the {self.max_bytes}-byte limit",
            param=where,
            code="image_too_large",
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def passthrough(req: ChatRequest, adapter: Any) -> bool:
    """Whether the adapter forwards the client's own body (same wire format)."""
    return req.raw is not None and req.wire == adapter.native_wire


def check(req: ChatRequest, adapter: Any, dep: Deployment) -> None:
    """Raise :class:`CapabilityMismatch` naming the first field ``dep`` cannot take, or
    :class:`InvalidRequest` for a malformed tool schema (no upstream takes it)."""
    for i, tool in enumerate(req.tools):
        check_schema(tool.parameters, f"tools[{i}].parameters")
    target = f"{dep.provider.name}/{dep.upstream_model}"
    if req.tools and not dep.supports_tools:
        raise CapabilityMismatch(
            f"tools: the deployment {target} of model '{dep.model_name}' does not support "
            f"tools (supports_tools: false)",
            param="tools",
        )
    if passthrough(req, adapter):
        return
    builtin = req.extra.get("builtin_tools")
    if builtin:
        raise CapabilityMismatch(
            f"{builtin[0]}: built-in tools of the {req.wire} API cannot be sent to {target} ({adapter.kind})",
            param=str(builtin[0]),
        )
    types: frozenset[str] = getattr(adapter, "input_types", ANY_CONTENT)
    for i, m in enumerate(req.messages):
        for j, p in enumerate(m.content):
            if p.type not in types:
                where = f"messages[{i}].content[{j}]"
                raise CapabilityMismatch(
                    f"{where}: {p.type} content cannot be sent to {target} ({adapter.kind} "
                    f"takes {', '.join(sorted(types))})",
                    param=where,
                )


def _remote_images(req: ChatRequest) -> dict[str, list[tuple[str, ContentPart]]]:
    found: dict[str, list[tuple[str, ContentPart]]] = {}
    for i, m in enumerate(req.messages):
        for j, p in enumerate(m.content):
            if p.type != "image" or p.data is not None or not p.url:
                continue
            media, data = parse_data_url(p.url)
            if data is not None:
                p.data, p.media_type, p.url = data, media, None
            elif p.url.startswith(("http://", "https://")):
                found.setdefault(p.url, []).append((f"messages[{i}].content[{j}]", p))
    return found


async def inline_images(req: ChatRequest, fetcher: MediaFetcher) -> None:
    """Replace every http(s) image URL with its base64 data (each URL fetched once, concurrently)."""
    found = _remote_images(req)
    if not found:
        return
    urls = list(found)
    results = await asyncio.gather(*(fetcher.fetch(u, found[u][0][0]) for u in urls), return_exceptions=True)
    fetched: list[tuple[str, str]] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        fetched.append(result)
    for url, (media, data) in zip(urls, fetched, strict=True):
        for _where, part in found[url]:
            part.data, part.media_type, part.url = data, media, None


async def prepare(req: ChatRequest, adapter: Any, dep: Deployment, fetcher: MediaFetcher) -> None:
    """Check ``req`` against the target and inline its images when the adapter needs it."""
    check(req, adapter, dep)
    if getattr(adapter, "inline_images", False) and not passthrough(req, adapter):
        await inline_images(req, fetcher)

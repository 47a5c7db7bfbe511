"""pipeline/media: capability checks and image URL inlining against a real local image server."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from adaptive_gateway.config import Deployment, compile_config
from adaptive_gateway.config.loader import parse_config
from adaptive_gateway.errors import InvalidRequest
from adaptive_gateway.formats.gemini_request import decode
from adaptive_gateway.pipeline.media import CapabilityMismatch, MediaFetcher, check, prepare
from adaptive_gateway.providers.gemini import GeminiAdapter
from adaptive_gateway.providers.ollama import OllamaAdapter
from adaptive_gateway.providers.openai import OpenAIAdapter
from adaptive_gateway.types import ChatRequest, ContentPart, Message, Tool
from tests.support.gateway import free_port

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LIMIT = 4096


@dataclass
class ImageServer:
    url: str
    hits: dict[str, int] = field(default_factory=dict)


async def _serve(hits: dict[str, int], request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    hits[name] = hits.get(name, 0) + 1
    if name == "img.png":
        return web.Response(body=PNG, content_type="image/png")
    if name == "octet":
        return web.Response(body=PNG, content_type="application/octet-stream")
    if name == "big":
        return web.Response(body=b"\xff\xd8\xff" + b"\x00" * LIMIT, content_type="image/jpeg")
    if name == "big-chunked":
        resp = web.StreamResponse(headers={"content-type": "image/jpeg"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(8):
            await resp.write(b"\x00" * 1024)
        await resp.write_eof()
        return resp
    if name == "slow":
        await asyncio.sleep(5)
    if name == "page":
        return web.Response(text="<html></html>", content_type="text/html")
    return web.Response(status=404)


@pytest.fixture
async def images() -> AsyncIterator[ImageServer]:
    hits: dict[str, int] = {}
    app = web.Application()

    async def handler(request: web.Request) -> web.StreamResponse:
        return await _serve(hits, request)

    app.router.add_get("/{name}", handler)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield ImageServer(f"http://127.0.0.1:{port}", hits)
    await runner.cleanup()


@pytest.fixture
async def fetcher() -> AsyncIterator[MediaFetcher]:
    f = MediaFetcher(max_bytes=LIMIT, timeout=1.0)
    yield f
    await f.close()


def deployment(kind: str = "gemini", supports_tools: bool = True) -> Deployment:
    text = f"""
providers:
  p: {{kind: {kind}, base_url: "http://127.0.0.1:9", api_key: k}}
models:
  m: {{deployments: [{{provider: p, model: x, supports_tools: {str(supports_tools).lower()}}}]}}
"""
    return compile_config(parse_config(text), env={}).models["m"].deployments[0]


def image_request(*urls: str) -> ChatRequest:
    parts = [ContentPart("text", text="look")] + [ContentPart("image", url=u) for u in urls]
    return ChatRequest("m", [Message("user", parts)])


async def test_fetch_inlines_with_media_type(images: ImageServer, fetcher: MediaFetcher) -> None:
    assert await fetcher.fetch(images.url + "/img.png", "w") == ("image/png", base64.b64encode(PNG).decode())
    # a generic content type is sniffed from the bytes
    assert (await fetcher.fetch(images.url + "/octet", "w"))[0] == "image/png"


@pytest.mark.parametrize(
    ("name", "code", "fragment"),
    [
        ("big", "image_too_large", "larger than the 4096-byte limit"),
        ("big-chunked", "image_too_large", "larger than the 4096-byte limit"),
        ("missing", "image_unreachable", "returned HTTP 404"),
        ("page", "invalid_image", "is not an image (content type text/html)"),
    ],
)
async def test_fetch_failures_are_400s_naming_the_field(
    images: ImageServer, fetcher: MediaFetcher, name: str, code: str, fragment: str
) -> None:
    with pytest.raises(InvalidRequest) as exc:
        await fetcher.fetch(f"{images.url}/{name}", "messages[0].content[1]")
    assert exc.value.status == 400 and exc.value.code == code
    assert exc.value.param == "messages[0].content[1]"
    assert exc.value.message.startswith("messages[0].content[1]: ") and fragment in exc.value.message


async def test_slow_and_unreachable_hosts(images: ImageServer, fetcher: MediaFetcher) -> None:
    fetcher.timeout = 0.2
    with pytest.raises(InvalidRequest, match=r"did not arrive within 0\.2s"):
        await fetcher.fetch(images.url + "/slow", "w")
    closed = free_port()
    with pytest.raises(InvalidRequest, match="is unreachable") as exc:
        await fetcher.fetch(f"http://127.0.0.1:{closed}/x.png", "w")
    assert exc.value.code == "image_unreachable"


async def test_prepare_inlines_for_gemini_once_per_url(images: ImageServer, fetcher: MediaFetcher) -> None:
    url = images.url + "/img.png"
    req = image_request(url, url, "data:image/gif;base64,R0lGODlh")
    await prepare(req, GeminiAdapter(), deployment(), fetcher)
    parts = req.messages[0].content[1:]
    assert all(p.url is None and p.data for p in parts)
    assert [p.media_type for p in parts] == ["image/png", "image/png", "image/gif"]
    assert images.hits == {"img.png": 1}


async def test_prepare_leaves_urls_for_adapters_that_fetch_and_for_passthrough(
    images: ImageServer, fetcher: MediaFetcher
) -> None:
    req = image_request(images.url + "/img.png")
    await prepare(req, OpenAIAdapter(), deployment("openai-compatible"), fetcher)
    assert req.messages[0].content[1].url == images.url + "/img.png"
    native = decode(
        {
            "contents": [
                {"parts": [{"fileData": {"mimeType": "image/png", "fileUri": images.url + "/img.png"}}]}
            ]
        },
        "m",
        False,
    )
    await prepare(native, GeminiAdapter(), deployment(), fetcher)
    assert native.messages[0].content[0].url is not None
    assert images.hits == {}


async def test_prepare_inline_failure_stops_with_the_field(
    images: ImageServer, fetcher: MediaFetcher
) -> None:
    with pytest.raises(InvalidRequest) as exc:
        await prepare(image_request(images.url + "/big"), OllamaAdapter(), deployment("ollama"), fetcher)
    assert exc.value.param == "messages[0].content[1]"
    assert not isinstance(exc.value, CapabilityMismatch)  # the same image fails everywhere: no failover


def test_tools_on_a_deployment_without_tool_support() -> None:
    req = ChatRequest("m", [Message("user", [ContentPart("text", text="x")])], tools=[Tool("f")])
    with pytest.raises(CapabilityMismatch) as exc:
        check(req, OpenAIAdapter(), deployment("openai-compatible", supports_tools=False))
    assert exc.value.status == 400 and exc.value.param == "tools"
    assert "supports_tools: false" in exc.value.message
    check(req, OpenAIAdapter(), deployment("openai-compatible"))


def test_content_the_adapter_cannot_take() -> None:
    req = ChatRequest(
        "m",
        [
            Message(
                "user",
                [ContentPart("text", text="x"), ContentPart("audio", data="AAAA", media_type="audio/wav")],
            )
        ],
    )
    with pytest.raises(CapabilityMismatch) as exc:
        check(req, OllamaAdapter(), deployment("ollama"))
    assert exc.value.param == "messages[0].content[1]" and "audio content" in exc.value.message
    check(req, GeminiAdapter(), deployment())


def test_builtin_tools_only_go_to_their_own_format() -> None:
    body = {"contents": [{"parts": [{"text": "x"}]}], "tools": [{"googleSearch": {}}]}
    req = decode(body, "m", False)
    check(req, GeminiAdapter(), deployment())  # passthrough: Gemini runs its own search
    with pytest.raises(CapabilityMismatch) as exc:
        check(req, OpenAIAdapter(), deployment("openai-compatible"))
    assert exc.value.param == "tools[0].googleSearch"


async def test_session_is_lazy_and_closed() -> None:
    f = MediaFetcher()
    assert f._session is None
    await f.close()
    session = f._client()
    assert not session.closed
    await f.close()
    assert session.closed and f._session is None

"""Small fake runtimes speaking just enough of each API for discovery: real aiohttp servers on free
local ports (or a unix socket, for Docker)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.gateway import free_port

Routes = Mapping[str, Any]  # "GET /path" -> JSON body (dict/list) or text


def _app(routes: Routes, fallback_html: bool) -> web.Application:
    app = web.Application()
    for spec, body in routes.items():
        method, path = spec.split(" ", 1)

        async def handler(request: web.Request, body: Any = body) -> web.Response:
            if isinstance(body, str):
                return web.Response(text=body)
            return web.json_response(body)

        app.router.add_route(method, path, handler)
    if fallback_html:  # a single-page app answers every unknown path with its index.html

        async def spa(request: web.Request) -> web.Response:
            return web.Response(text="<!doctype html><html>app</html>", content_type="text/html")

        app.router.add_route("*", "/{tail:.*}", spa)
    return app


@asynccontextmanager
async def serve(routes: Routes, *, fallback_html: bool = False) -> AsyncIterator[str]:
    """Serve ``routes`` on a free 127.0.0.1 port; yields the root URL."""
    runner = web.AppRunner(_app(routes, fallback_html))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serve_unix(routes: Routes, path: Path) -> AsyncIterator[Path]:
    runner = web.AppRunner(_app(routes, False))
    await runner.setup()
    await web.UnixSite(runner, str(path)).start()
    try:
        yield path
    finally:
        await runner.cleanup()


@contextmanager
def blackhole() -> Iterator[str]:
    """A port that accepts connections (kernel backlog) but never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def closed_port() -> str:
    """A port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


LMSTUDIO: Routes = {
    "GET /v1/models": {"object": "list", "data": [{"id": "qwen2.5-7b-instruct", "object": "model"}]},
    "GET /api/v0/models": {
        "object": "list",
        "data": [{"id": "qwen2.5-7b-instruct", "type": "llm", "max_context_length": 32768}],
    },
}
LLAMACPP: Routes = {
    "GET /props": {
        "default_generation_settings": {"n_ctx": 8192, "temperature": 0.8},
        "total_slots": 1,
        "model_path": "/models/phi-4-Q4_K_M.gguf",
        "build_info": "b4567-abcdef0",
    },
    "GET /v1/models": {"object": "list", "data": [{"id": "phi-4", "meta": {"n_ctx_train": 16384}}]},
    "GET /health": {"status": "ok"},
}
VLLM: Routes = {
    "GET /v1/models": {
        "object": "list",
        "data": [{"id": "meta-llama/Llama-3.1-8B-Instruct", "owned_by": "vllm", "max_model_len": 65536}],
    },
    "GET /version": {"version": "0.11.0"},
}
LOCALAI: Routes = {
    "GET /readyz": "OK",
    "GET /v1/models": {"object": "list", "data": [{"id": "gpt-4o-mini-local", "object": "model"}]},
    "GET /version": {"version": "v3.7.0"},
}
OPENWEBUI: Routes = {
    "GET /api/config": {"status": True, "name": "Open WebUI", "version": "0.6.34", "features": {}},
    "GET /health": {"status": True},
}
GITEA: Routes = {"GET /api/v1/version": {"version": "1.24.6"}}
DOCKER: Routes = {
    "GET /containers/json": [
        {
            "Id": "4f1c0e5a9b7d2c3e8f6a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e",
            "Names": ["/ollama"],
            "Image": "ollama/ollama:0.12.6",
            "State": "running",
            "Ports": [{"IP": "0.0.0.0", "PrivatePort": 11434, "PublicPort": 11434, "Type": "tcp"}],
        },
        {
            "Id": "9a8b7c6d5e4f",
            "Names": ["/webui"],
            "Image": "ghcr.io/open-webui/open-webui:main",
            "State": "running",
            "Ports": [{"PrivatePort": 8080, "PublicPort": 3000, "Type": "tcp"}],
        },
        {"Id": "0123456789ab", "Names": ["/db"], "Image": "postgres:16", "State": "running", "Ports": []},
    ]
}

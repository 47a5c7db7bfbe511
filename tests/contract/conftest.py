"""One gateway per test session with a model on every upstream kind, and the (client wire x upstream)
pairings the contract suite runs over.

A pairing is skipped only while its adapter is not in ``providers/registry.py`` or its wire has no route.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.pipeline.media import DEFAULT_MAX_BYTES
from adaptive_gateway.providers.registry import build_registry
from tests.contract.cases import PNG
from tests.contract.clients_openai import ChatClient, ResponsesClient
from tests.contract.clients_other import AnthropicClient, GeminiClient
from tests.contract.upstreams import VIEWS
from tests.support.gateway import MASTER_HASH, GatewayThread

UPSTREAMS = ("openai", "anthropic", "gemini", "ollama")
WIRES = ("openai_chat", "openai_responses", "anthropic_messages", "gemini")
CLIENTS: dict[str, Any] = {
    "openai_chat": ChatClient,
    "openai_responses": ResponsesClient,
    "anthropic_messages": AnthropicClient,
    "gemini": GeminiClient,
}
# the route that proves a wire format landed (Gemini's are prefix routes, always installed with it)
WIRE_ROUTES = {
    "openai_chat": ("POST", "/v1/chat/completions"),
    "openai_responses": ("POST", "/v1/responses"),
    "anthropic_messages": ("POST", "/v1/messages"),
}
PROVIDERS = {
    "openai": 'kind: openai-compatible, base_url: "{url}/v1", api_key: up-key',
    "anthropic": 'kind: anthropic, base_url: "{url}", api_key: up-key',
    "gemini": 'kind: gemini, base_url: "{url}", api_key: up-key',
    "ollama": 'kind: ollama, base_url: "{url}"',
}
UPSTREAM_MODELS = {
    "openai": "gpt-up",
    "anthropic": "claude-up",
    "gemini": "gemini-2.5-flash",
    "ollama": "llama3.2:latest",
}
PASSTHROUGH = {("openai_chat", "openai"), ("gemini", "gemini"), ("anthropic_messages", "anthropic")}
BIG_IMAGE = DEFAULT_MAX_BYTES + 1


class _Images(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = {"/cat.png": PNG, "/big.png": b"\x89PNG\r\n\x1a\n" + b"\0" * BIG_IMAGE}.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-type", "image/png")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway stops reading an image past its size limit

    def log_message(self, *args: Any) -> None:
        return None


@dataclass
class Stack:
    gateway: GatewayThread
    fakes: dict[str, FakeUpstream]
    images: str
    wires: set[str]
    clients: dict[str, Any]


# the contract is about translation: one attempt per request, no breaker state carried between tests
ONE_SHOT = "retry: {retries: 0}, breaker: {enabled: false}"


def config(fakes: dict[str, FakeUpstream]) -> str:
    providers = "\n".join(f"  up-{k}: {{{PROVIDERS[k].format(url=f.url)}}}" for k, f in fakes.items())
    models = "\n".join(
        f'  m-{k}: {{deployments: [{{provider: up-{k}, model: "{UPSTREAM_MODELS[k]}"}}], {ONE_SHOT}}}'
        for k in fakes
    )
    return f"""
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false}}
providers:
{providers}
models:
{models}
  m-notools: {{deployments: [{{provider: up-openai, model: small, supports_tools: false}}], {ONE_SHOT}}}
  m-notools-fallback:
    deployments: [{{provider: up-openai, model: small, supports_tools: false}}]
    fallbacks: [m-gemini]
    retry: {{retries: 0}}
    breaker: {{enabled: false}}
"""


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    registry = build_registry()
    fakes = {k: FakeUpstream(k).start_in_thread() for k in UPSTREAMS if k in registry}  # type: ignore[arg-type]
    images = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    threading.Thread(target=images.serve_forever, daemon=True).start()
    home: Path = tmp_path_factory.mktemp("gw-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADAPTIVE_GATEWAY_HOME", str(home))
        mp.delenv("ADAPTIVE_GATEWAY_MASTER_KEY", raising=False)
        gw = GatewayThread(config(fakes), tmp_path_factory.mktemp("gw")).start()
    wires = {w for w, route in WIRE_ROUTES.items() if route in gw.app.routes} | {"gemini"}
    clients = {w: CLIENTS[w](gw.url) for w in wires}  # SDK clients are costly to make: one per session
    try:
        yield Stack(gw, fakes, f"http://127.0.0.1:{images.server_address[1]}", wires, clients)
    finally:
        gw.stop()
        images.shutdown()
        for fake in fakes.values():
            fake.stop_thread()


@pytest.fixture(autouse=True)
def _fresh_fakes(stack: Stack) -> None:
    for fake in stack.fakes.values():
        fake.knobs = Knobs()
        fake.reset()


@dataclass
class Pair:
    wire: str
    upstream: str
    client: Any
    fake: FakeUpstream
    view: Any
    model: str
    passthrough: bool

    def sent(self) -> dict[str, Any]:
        """The JSON body the upstream received last."""
        body = self.fake.received[-1].json
        assert isinstance(body, dict)
        return body


PAIRS = [(w, u) for w in WIRES for u in UPSTREAMS]


@pytest.fixture(params=PAIRS, ids=[f"{w}->{u}" for w, u in PAIRS])
def pair(request: pytest.FixtureRequest, stack: Stack) -> Pair:
    wire, upstream = request.param
    if wire not in stack.wires:
        pytest.skip(f"wire {wire} has no route yet")
    if upstream not in stack.fakes:
        pytest.skip(f"adapter {upstream} is not registered yet")
    return Pair(
        wire,
        upstream,
        stack.clients[wire],
        stack.fakes[upstream],
        VIEWS[upstream](),
        f"m-{upstream}",
        (wire, upstream) in PASSTHROUGH,
    )


@pytest.fixture(params=WIRES)
def client(request: pytest.FixtureRequest, stack: Stack) -> Any:
    if request.param not in stack.wires:
        pytest.skip(f"wire {request.param} has no route yet")
    return stack.clients[request.param]

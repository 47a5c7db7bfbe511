"""Fixtures for the MCP tests: a gateway with the MCP extension and a second (virtual) key, and MCP
SDK clients connected to its /mcp endpoint."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import mcp.types as types
import pytest
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from adaptive_gateway.config import hash_key
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.pipeline.context import Principal
from adaptive_gateway.server import extensions
from adaptive_gateway.server.mcp_ext import install
from mcp import Client
from tests.support.gateway import MASTER_KEY, GatewayThread, openai_config

FALLBACK_AGENT_KEY = "sk-test-agent-b-0123456789"
UPSTREAM = Path(__file__).with_name("upstream_server.py")

Connect = Callable[..., AbstractAsyncContextManager[Client]]


def upstream_yaml(name: str = "fix", extra: str = "") -> str:
    """An ``mcp_servers:`` entry running the fixture server (tests/mcp/upstream_server.py)."""
    return f"""
  {name}:
    command: {sys.executable}
    args: ["{UPSTREAM}"]
{extra}"""


@dataclass(frozen=True)
class AgentKey:
    key: str
    principal_id: str


def start_gateway(config_text: str, tmp_path: Path) -> tuple[GatewayThread, AgentKey]:
    """A running gateway with the MCP extension and a second key: a real virtual key from the admin API
    when the accounts extension is installed, else one resolved by a test resolver."""
    gw = GatewayThread(config_text, tmp_path)
    if "adaptive_gateway.server.mcp_ext" not in extensions.EXTENSIONS:
        install(gw.app)
    gw.start()
    resp = httpx.post(
        gw.url + "/api/keys", json={"name": "agent-b"}, headers={"Authorization": f"Bearer {MASTER_KEY}"}
    )
    if resp.status_code == 201:
        created = resp.json()
        return gw, AgentKey(created["key"], created["id"])
    agent = Principal("agent-b", "virtual", FALLBACK_AGENT_KEY[:10] + "…", roles=frozenset({"user"}))
    digest = hash_key(FALLBACK_AGENT_KEY)
    gw.app.gateway.auth.resolvers.append(lambda d: agent if d == digest else None)
    return gw, AgentKey(FALLBACK_AGENT_KEY, "agent-b")


@pytest.fixture
def mcp_config_extra() -> str:
    """Extra config text for the gateway (override in a module to add ``mcp_servers:``)."""
    return ""


@pytest.fixture
def started(
    fake_openai: FakeUpstream, tmp_path: Path, mcp_config_extra: str
) -> Iterator[tuple[GatewayThread, AgentKey]]:
    gw, agent = start_gateway(openai_config(fake_openai.url, extra=mcp_config_extra), tmp_path)
    try:
        yield gw, agent
    finally:
        gw.stop()


@pytest.fixture
def mcp_gateway(started: tuple[GatewayThread, AgentKey]) -> GatewayThread:
    return started[0]


@pytest.fixture
def agent_key(started: tuple[GatewayThread, AgentKey]) -> AgentKey:
    """The second agent's key (a virtual key) and its principal id."""
    return started[1]


@asynccontextmanager
async def mcp_client(
    url: str,
    key: str | None = MASTER_KEY,
    *,
    name: str = "test-agent",
    mode: str = "auto",
    headers: dict[str, str] | None = None,
) -> AsyncIterator[Client]:
    """An SDK client session on ``url`` + /mcp with ``key`` as Bearer token."""
    sent = dict(headers or {})
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    async with create_mcp_http_client(headers=sent) as http:
        transport = streamable_http_client(url + "/mcp", http_client=http)
        info = types.Implementation(name=name, version="1.0")
        async with Client(transport, mode=mode, client_info=info, cache=None) as client:  # type: ignore[arg-type]
            yield client


@pytest.fixture
def connect(mcp_gateway: GatewayThread) -> Connect:
    def make(key: str | None = MASTER_KEY, **kw: object) -> AbstractAsyncContextManager[Client]:
        return mcp_client(mcp_gateway.url, key, **kw)  # type: ignore[arg-type]

    return make

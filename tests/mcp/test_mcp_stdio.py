"""`adaptive-llm-gateway mcp` on stdio, spawned by the SDK's stdio client: in-process and --url bridge."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import mcp.types as types
from mcp.client.stdio import StdioServerParameters

from adaptive_gateway.fakes.server import FakeUpstream
from mcp import Client
from tests.mcp.conftest import AgentKey
from tests.support.gateway import GatewayThread, openai_config

CLI = str(Path(sys.executable).with_name("adaptive-llm-gateway"))


@asynccontextmanager
async def stdio(home: Path, *args: str) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=CLI, args=["mcp", *args], env={"ADAPTIVE_GATEWAY_HOME": str(home)})
    info = types.Implementation(name="stdio-test", version="1")
    async with Client(params, client_info=info, cache=None, read_timeout_seconds=60) as client:
        yield client


async def test_in_process(tmp_path: Path, fake_openai: FakeUpstream) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(openai_config(fake_openai.url))
    async with stdio(home, "--agent", "claude") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        answer = await client.call_tool("gateway_complete", {"prompt": "from stdio", "model": "gpt-test"})
        note = await client.call_tool("memory_write", {"title": "Stdio note", "body": "written over stdio"})
        hits = await client.call_tool("memory_search", {"query": "stdio note"})
        unknown = await client.call_tool("gateway_complete", {"prompt": "x", "model": "nope"})
    assert {"gateway_complete", "memory_search", "handoff_create"} <= names
    assert not answer.is_error and answer.structured_content["provider"] == "fake"
    assert "from stdio" in str(fake_openai.received[-1].json["messages"])
    assert not note.is_error and note.structured_content["author_agent"] == "claude"
    assert hits.structured_content["hits"][0]["id"] == note.structured_content["id"]
    assert unknown.is_error and "nope" in unknown.content[0].text
    assert list((home / "memory" / "default" / "notes").glob("stdio-note-*.md"))


async def test_bridge_to_a_running_gateway(
    mcp_gateway: GatewayThread, agent_key: AgentKey, tmp_path: Path
) -> None:
    async with stdio(
        tmp_path / "bridge-home", "--url", mcp_gateway.url, "--key", agent_key.key, "--agent", "codex"
    ) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        note = await client.call_tool("memory_write", {"title": "Bridged note", "body": "via the bridge"})
        answer = await client.call_tool("gateway_complete", {"prompt": "bridged", "model": "gpt-test"})
        resources = await client.list_resources()
    assert "memory_write" in names
    assert note.structured_content["author_agent"] == "codex"
    assert not answer.is_error
    assert any("bridged-note" in str(r.uri) for r in resources.resources)

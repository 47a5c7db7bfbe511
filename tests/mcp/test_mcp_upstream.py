"""The MCP gateway: an upstream stdio MCP server (tests/mcp/upstream_server.py) proxied through /mcp,
namespaced, with per-key allow-lists, argument trust checks, receipts, and restarts when it dies."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from adaptive_gateway.config.schema import McpServerConfig
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.mcp.doctor import probe_servers
from adaptive_gateway.server.mcp_ext import services_of
from mcp import Client
from tests.mcp.conftest import AgentKey, Connect, mcp_client, start_gateway, upstream_yaml
from tests.support.gateway import MASTER_KEY, GatewayThread, openai_config

SECRET = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v2W3x4"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayThread, AgentKey]]:
    """One gateway (and one upstream child process) for the module: spawning them dominates the time."""
    tmp = tmp_path_factory.mktemp("upstream")
    keys = '    keys: {master: ["*"], "*": ["echo"]}\n'
    extra = "mcp_servers:" + upstream_yaml("fix", keys) + "  broken:\n    command: /nonexistent/mcp-server\n"
    fake = FakeUpstream("openai").start_in_thread()
    gw, agent = start_gateway(openai_config(fake.url, extra=extra), tmp)
    services = services_of(gw.app)
    assert services is not None
    services.memory.root = tmp / "memory"
    try:
        yield gw, agent
    finally:
        gw.stop()
        fake.stop_thread()


@pytest.fixture
def upstream_gateway(upstream: tuple[GatewayThread, AgentKey]) -> GatewayThread:
    return upstream[0]


@pytest.fixture
def agent_key(upstream: tuple[GatewayThread, AgentKey]) -> AgentKey:
    return upstream[1]


@pytest.fixture
def connect(upstream_gateway: GatewayThread) -> Connect:
    def make(key: str | None = MASTER_KEY, **kw: Any) -> AbstractAsyncContextManager[Client]:
        return mcp_client(upstream_gateway.url, key, **kw)

    return make


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def state_of(client: Client, server: str) -> dict[str, Any]:
    health = (await client.call_tool("gateway_health", {})).structured_content
    assert isinstance(health, dict)
    return dict(health["mcp_servers"][server])


async def ready(client: Client) -> None:
    async def check() -> bool:
        return (await state_of(client, "fix"))["state"] == "ready"

    await eventually(check)


async def test_tools_are_namespaced_and_filtered_per_key(connect: Connect, agent_key: AgentKey) -> None:
    async with connect() as master, connect(agent_key.key) as agent:
        await ready(master)
        mine = {t.name: t for t in (await master.list_tools()).tools}
        theirs = {t.name for t in (await agent.list_tools()).tools}
    assert {"fix__echo", "fix__add", "fix__pid", "fix__crash"} <= set(mine)
    assert mine["fix__add"].description.startswith("[fix] ") and mine["fix__add"].input_schema[
        "required"
    ] == [
        "a",
        "b",
    ]
    assert "fix__echo" in theirs and "fix__add" not in theirs and "gateway_complete" in theirs


async def test_calls_are_forwarded_checked_and_receipted(
    upstream_gateway: GatewayThread, connect: Connect, agent_key: AgentKey
) -> None:
    async with connect(name="claude-code") as master, connect(agent_key.key, name="codex") as agent:
        await ready(master)
        added = await master.call_tool("fix__add", {"a": 2, "b": 3})
        echoed = await agent.call_tool("fix__echo", {"text": "hi"})
        denied = await agent.call_tool("fix__add", {"a": 1, "b": 1})
        blocked = await master.call_tool("fix__echo", {"text": f"use {SECRET}"})
        echoed_again = await master.call_tool("fix__echo", {"text": "again"})
    assert not added.is_error and added.structured_content == {"result": 5}
    assert not echoed.is_error and echoed.content[0].text.startswith("echo: hi (call ")
    assert denied.is_error and "may not call 'add'" in denied.content[0].text
    assert blocked.is_error and "secret" in blocked.content[0].text and SECRET not in blocked.content[0].text
    assert "max_trust" in blocked.content[0].text
    calls = [int(r.content[0].text.split("(call ")[1].split()[0]) for r in (echoed, echoed_again)]
    assert calls[1] == calls[0] + 1  # the blocked call never reached the server
    services = services_of(upstream_gateway.app)
    assert services is not None
    receipts = {
        r.status: r for r in services.receipts.find(server="fix") if r.agent in ("claude-code", "codex")
    }
    assert set(receipts) == {"ok", "denied", "blocked"}
    assert (
        receipts["ok"].upstream_tool in ("add", "echo")
        and receipts["denied"].principal == agent_key.principal_id
    )
    assert receipts["blocked"].key.startswith(MASTER_KEY[:10]) and receipts["blocked"].args_sha256.startswith(
        "sha"
    )


async def test_a_dead_server_is_restarted_and_reported(
    upstream_gateway: GatewayThread, connect: Connect
) -> None:
    async with connect() as client:
        await ready(client)
        first = (await client.call_tool("fix__pid", {})).structured_content
        crashed = await client.call_tool("fix__crash", {})
        assert crashed.is_error and "restart" in crashed.content[0].text

        async def restarted() -> bool:
            state = await state_of(client, "fix")
            return state["state"] == "ready" and state["restarts"] >= 1

        await eventually(restarted)
        second = (await client.call_tool("fix__pid", {})).structured_content
        assert first is not None and second is not None and first["result"] != second["result"]
        restarts = (await state_of(client, "fix"))["restarts"]
        os.kill(second["result"], signal.SIGKILL)  # dies while idle: noticed without any call

        async def restarted_again() -> bool:
            state = await state_of(client, "fix")
            return state["state"] == "ready" and state["restarts"] > restarts

        await eventually(restarted_again)
        third = (await client.call_tool("fix__pid", {})).structured_content
    assert third is not None and third["result"] != second["result"]
    status = await readiness(upstream_gateway)
    assert "fix" not in status["checks"]["mcp_servers"]["detail"]


async def readiness(gw: GatewayThread) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        resp = await http.get(gw.url + "/health/ready", headers={"Authorization": f"Bearer {MASTER_KEY}"})
    body = resp.json()
    assert (resp.status_code == 200) == (body["status"] == "ready")
    return dict(body)


async def test_a_server_that_cannot_start_is_reported_until_removed(upstream_gateway: GatewayThread) -> None:
    original = upstream_gateway.config_path.read_text()
    check = (await readiness(upstream_gateway))["checks"]["mcp_servers"]
    assert not check["ok"] and "broken: restarting" in check["detail"]
    assert "nonexistent" in check["detail"] or "No such file" in check["detail"]
    upstream_gateway.config_path.write_text(original.split("  broken:")[0])  # hot reload drops it

    async def healthy() -> bool:
        return bool((await readiness(upstream_gateway))["checks"]["mcp_servers"]["ok"])

    try:
        await eventually(healthy)
    finally:
        upstream_gateway.config_path.write_text(original)

    async def back() -> bool:
        return "broken" in (await readiness(upstream_gateway))["checks"]["mcp_servers"]["detail"]

    await eventually(back)


async def test_doctor_probe() -> None:
    broken = McpServerConfig(command="/nonexistent/mcp-server")
    report = await probe_servers({"broken": broken}, timeout=0.5)
    assert report["broken"]["state"] in ("starting", "restarting") and report["broken"]["tool_names"] == []
    assert report["broken"]["last_error"]


async def test_unknown_namespaced_tool_is_an_error(connect: Connect) -> None:
    async with connect() as client:
        await ready(client)
        result = await client.call_tool("broken__anything", {})
    assert result.is_error and "broken" in result.content[0].text


async def test_streamable_http_upstream(upstream_gateway: GatewayThread, tmp_path: Path) -> None:
    """A second gateway connects to the first one's /mcp over streamable HTTP (with a key header) and
    re-exposes its tools, upstream MCP servers included, one namespace deeper."""
    async with mcp_client(upstream_gateway.url) as first:
        await ready(first)  # its stdio server is up: the first gateway lists fix__add from now on
    extra = (
        f'mcp_servers:\n  first:\n    url: "{upstream_gateway.url}/mcp"\n'
        f'    headers: {{Authorization: "Bearer {MASTER_KEY}"}}\n    max_trust: confidential\n'
    )
    fake = FakeUpstream("openai").start_in_thread()
    second, _ = start_gateway(openai_config(fake.url, extra=extra), tmp_path)
    try:
        async with mcp_client(second.url) as client:

            async def connected() -> bool:
                return (await state_of(client, "first"))["state"] == "ready"

            await eventually(connected)
            names = {t.name for t in (await client.list_tools()).tools}
            added = await client.call_tool("first__fix__add", {"a": 20, "b": 22})
            blocked = await client.call_tool("first__memory_write", {"title": "t", "body": SECRET})
    finally:
        second.stop()
        fake.stop_thread()
    assert {"first__gateway_complete", "first__memory_search", "first__fix__add"} <= names
    assert added.structured_content == {"result": 42}
    assert blocked.is_error and "at most confidential" in blocked.content[0].text

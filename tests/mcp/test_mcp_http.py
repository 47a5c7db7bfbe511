"""MCP over streamable HTTP at /mcp with the official SDK client: tools, errors, auth, resources."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from adaptive_gateway.config import gateway_home
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.mcp.names import CLIENT_SAFE
from tests.mcp.conftest import AgentKey, Connect
from tests.support.gateway import MASTER_KEY, GatewayThread


def first_mcp_error(exc: BaseException) -> MCPError | None:
    if isinstance(exc, MCPError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        if (found := first_mcp_error(inner)) is not None:
            return found
    return None


BUILTIN = {
    "gateway_complete",
    "gateway_chat",
    "gateway_health",
    "gateway_route_preview",
    "gateway_feedback",
    "memory_search",
    "memory_read",
    "memory_write",
    "memory_append_session",
    "memory_record_decision",
    "memory_record_task",
    "memory_pull",
    "memory_push",
    "handoff_create",
    "handoff_list",
    "handoff_accept",
    "handoff_complete",
    "handoff_cancel",
}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_lists_tools_with_schemas(connect: Connect, mode: str) -> None:
    async with connect(mode=mode) as client:
        expected = "2026-07-28" if mode == "auto" else "2025-11-25"
        assert client.protocol_version == expected  # auto: server/discover answered; legacy: initialize
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) >= BUILTIN
    for tool in tools.values():
        assert CLIENT_SAFE.match(tool.name), tool.name
        assert tool.description and len(tool.description) > 30
        assert tool.input_schema["type"] == "object"
    assert tools["gateway_complete"].input_schema["required"] == ["prompt"]


async def test_gateway_complete_goes_through_the_pipeline(
    connect: Connect, fake_openai: FakeUpstream
) -> None:
    async with connect() as client:
        result = await client.call_tool(
            "gateway_complete", {"prompt": "hello there", "model": "gpt-test", "max_tokens": 20}
        )
    assert not result.is_error
    data = result.structured_content
    assert data["text"] and result.content[0].text == data["text"]
    assert data["deployment"] and data["provider"] == "fake" and data["upstream_model"] == "upstream-model"
    assert data["usage"]["input_tokens"] > 0 and data["cost_usd"] > 0
    assert data["request_id"].startswith("req_")
    sent = fake_openai.received[-1]
    assert sent.json["model"] == "upstream-model" and sent.json["max_tokens"] == 20
    assert "hello there" in str(sent.json["messages"][-1]["content"])


async def test_gateway_chat_alias_and_default_model(connect: Connect, fake_openai: FakeUpstream) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    async with connect() as client:
        chat = await client.call_tool("gateway_chat", {"messages": messages, "model": "gpt-4o-mini"})
        default = await client.call_tool("gateway_complete", {"prompt": "x"})
    assert not chat.is_error and chat.structured_content["model"] == "gpt-4o-mini"
    assert [m["role"] for m in fake_openai.received[-2].json["messages"]] == ["system", "user"]
    assert not default.is_error and default.structured_content["model"] in ("gpt-4o-mini", "gpt-test")


async def test_health_and_route_preview(connect: Connect, fake_openai: FakeUpstream) -> None:
    before = len(fake_openai.received)
    async with connect() as client:
        health = (await client.call_tool("gateway_health", {})).structured_content
        preview = (
            await client.call_tool("gateway_route_preview", {"model": "gpt-4o-mini"})
        ).structured_content
    assert health["status"] == "ready" and "gpt-test" in health["models"]
    assert health["checks"]["mcp_servers"]["ok"]
    assert preview["model"] == "gpt-test" and preview["requested"] == "gpt-4o-mini"
    first = preview["candidates"][0]
    assert first["provider"] == "fake" and first["rank"] == 1 and first["why"].startswith("chosen: ")
    assert len(fake_openai.received) == before  # a preview sends nothing


async def test_errors_are_mcp_errors(connect: Connect, fake_openai: FakeUpstream) -> None:
    async with connect() as client:
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("no_such_tool", {})
        bad_args = await client.call_tool("memory_search", {"limit": 0})
        no_model = await client.call_tool("gateway_complete", {"prompt": "x", "model": "gpt-nope"})
        fake_openai.knobs.status = 500
        upstream = await client.call_tool("gateway_complete", {"prompt": "x", "model": "gpt-test"})
        missing = await client.call_tool("memory_read", {"id": "nothing-here"})
        still_alive = await client.call_tool("gateway_health", {})
    assert unknown.value.code == -32602 and "no_such_tool" in unknown.value.message
    assert bad_args.is_error and "query" in bad_args.content[0].text and "limit" in bad_args.content[0].text
    assert no_model.is_error and "gpt-nope" in no_model.content[0].text
    assert no_model.structured_content["error"]["status"] == 404
    assert upstream.is_error and upstream.structured_content["error"]["status"] >= 500
    assert missing.is_error and "nothing-here" in missing.content[0].text
    assert not still_alive.is_error


async def test_401_without_or_with_a_wrong_key(mcp_gateway: GatewayThread, connect: Connect) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    async with httpx.AsyncClient() as http:
        none = await http.post(mcp_gateway.url + "/mcp", json=body)
        wrong = await http.post(
            mcp_gateway.url + "/mcp", json=body, headers={"Authorization": "Bearer sk-wrong"}
        )
        stream = await http.get(mcp_gateway.url + "/mcp")
    for resp in (none, wrong, stream):
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"].startswith('Bearer realm="adaptive-llm-gateway')
        error = resp.json()["error"]
        assert "gateway key" in error["message"] and "Authorization: Bearer" in error["message"]
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert "error=" not in none.headers["www-authenticate"]
    with pytest.raises(Exception) as refused:  # the SDK raises the MCPError inside an exception group
        async with connect(key=None):
            pass
    assert "needs an Adaptive LLM Gateway key" in str(first_mcp_error(refused.value))


async def test_session_is_bound_to_its_key(mcp_gateway: GatewayThread, agent_key: AgentKey) -> None:
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient() as http:
        opened = await http.post(
            mcp_gateway.url + "/mcp", json=init, headers={**accept, "Authorization": f"Bearer {MASTER_KEY}"}
        )
        session = opened.headers["mcp-session-id"]
        other = await http.post(
            mcp_gateway.url + "/mcp",
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            headers={
                **accept,
                "Authorization": f"Bearer {agent_key.key}",
                "mcp-session-id": session,
                "mcp-protocol-version": "2025-11-25",
            },
        )
        closed = await http.delete(
            mcp_gateway.url + "/mcp",
            headers={"Authorization": f"Bearer {MASTER_KEY}", "mcp-session-id": session},
        )
    assert opened.status_code == 200
    assert other.status_code == 404  # another key cannot use the session
    assert closed.status_code in (200, 204)


async def test_legacy_discover_probe_falls_back(mcp_gateway: GatewayThread) -> None:
    """A discover probe the modern path cannot take is answered 400 with a JSON-RPC error (clients then
    fall back to initialize); a well-formed one is answered (see test_lists_tools_with_schemas)."""
    headers = {"Authorization": f"Bearer {MASTER_KEY}", "Accept": "application/json, text/event-stream"}
    probe = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}}
    async with httpx.AsyncClient() as http:
        resp = await http.post(mcp_gateway.url + "/mcp", json=probe, headers=headers)
    assert resp.status_code in (400, 404) and "error" in resp.json()


async def test_memory_items_are_resources(connect: Connect) -> None:
    async with connect() as client:
        written = (
            await client.call_tool(
                "memory_write", {"title": "Resource check", "body": "Body text.", "namespace": "res"}
            )
        ).structured_content
        listed = await client.list_resources()
        templates = await client.list_resource_templates()
        uri = f"memory://res/note/{written['id']}"
        read = await client.read_resource(uri)
        with pytest.raises(MCPError) as missing:
            await client.read_resource("memory://res/note/absent-item")
    assert uri in [str(r.uri) for r in listed.resources]
    assert templates.resource_templates[0].uri_template == "memory://{namespace}/{type}/{id}"
    text = read.contents[0].text
    assert text.startswith("---\n") and "title: Resource check" in text and "Body text." in text
    assert missing.value.code == -32002


async def test_receipts_for_every_call(mcp_gateway: GatewayThread, connect: Connect) -> None:
    async with connect(name="receipt-agent") as client:
        await client.call_tool("memory_write", {"title": "Receipt", "body": "x", "agent": "codex"})
        await client.call_tool("memory_read", {"id": "does-not-exist"})
    from adaptive_gateway.server.mcp_ext import services_of

    services = services_of(mcp_gateway.app)
    assert services is not None
    ok = services.receipts.find(tool="memory_write")[-1]
    failed = services.receipts.find(tool="memory_read")[-1]
    assert ok.status == "ok" and ok.server == "gateway" and ok.agent == "codex"
    assert ok.key.startswith(MASTER_KEY[:10]) and MASTER_KEY not in ok.key
    assert ok.args_sha256.startswith("sha256:") and ok.duration_ms >= 0
    assert failed.status == "tool_error" and failed.agent == "receipt-agent"
    if services.receipts.ledger is not None:  # the ledger's receipts store, written behind the request
        folder = gateway_home() / "mcp-receipts"
        deadline = time.monotonic() + 10
        while not any(ok.id in p.read_text() for p in folder.glob("*.jsonl")):
            assert time.monotonic() < deadline, "receipt not written to the ledger"
            await asyncio.sleep(0.05)
        assert ok.id.startswith("rc_") and MASTER_KEY not in "".join(p.read_text() for p in folder.glob("*"))


async def test_model_tools_apply_the_callers_key_limits(mcp_gateway: GatewayThread, connect: Connect) -> None:
    """The pipeline's stages run as the MCP caller's key (here: the accounts extension's per-key limit)."""
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            mcp_gateway.url + "/api/keys",
            json={"name": "small", "max_tokens": 5},
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
        )
    if resp.status_code != 201:
        pytest.skip("no virtual keys (accounts extension not installed)")
    async with connect(resp.json()["key"]) as client:
        refused = await client.call_tool(
            "gateway_complete", {"prompt": "x", "model": "gpt-test", "max_tokens": 50}
        )
        allowed = await client.call_tool(
            "gateway_complete", {"prompt": "x", "model": "gpt-test", "max_tokens": 5}
        )
    assert refused.is_error and "exceeds this key's limit of 5" in refused.content[0].text
    assert not allowed.is_error

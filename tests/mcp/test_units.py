"""Units: tool names, argument checks, key allow-lists, the 401 answer, callers and dispatch rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from adaptive_gateway.config import compile_config, parse_config
from adaptive_gateway.config.schema import McpServerConfig
from adaptive_gateway.errors import AuthenticationFailed
from adaptive_gateway.mcp import Caller, McpServices
from adaptive_gateway.mcp.guard import ContentGuard
from adaptive_gateway.mcp.http import unauthorized_response
from adaptive_gateway.mcp.hub import key_patterns
from adaptive_gateway.mcp.names import (
    CLIENT_SAFE,
    agent_name,
    client_name,
    dotted_name,
    namespaced,
    split_namespaced,
)
from adaptive_gateway.memory import TrustLevel
from adaptive_gateway.pipeline.context import Principal
from adaptive_gateway.pipeline.gateway import Gateway
from tests.support.gateway import openai_config

MASTER = Principal("master", "master", "sk-test-ma…")


def test_tool_names() -> None:
    assert client_name("memory.append_session") == "memory_append_session"
    assert dotted_name("memory_append_session") == "memory.append_session"
    assert namespaced("files", "read.file v2") == "files__read_file_v2"
    long = namespaced("files", "x" * 80)
    assert len(long) == 64 and CLIENT_SAFE.match(long) and long != namespaced("files", "x" * 81)
    assert split_namespaced("files__read__deep") == ("files", "read__deep")
    assert split_namespaced("memory_search") is None
    assert agent_name(" Claude Code (1.0) ") == "Claude-Code-1.0" and agent_name("") is None


def test_guard_levels() -> None:
    guard = ContentGuard()
    assert guard.scan_arguments({"q": "weather in Paris"}).level is TrustLevel.PUBLIC
    secret = guard.scan_arguments({"nested": [{"token": "ghp_" + "a1B2c3D4" * 4 + "e5F6"}]})
    assert secret.level is TrustLevel.SECRET and secret.secret_types
    pii = guard.scan("write to jane.doe@example.com")
    assert pii.level is TrustLevel.CONFIDENTIAL and not pii.secret_types


def test_key_allow_lists() -> None:
    open_server = McpServerConfig(command="x")
    scoped = McpServerConfig(command="x", keys={"master": ["*"], "*": ["read_*"]})
    closed = McpServerConfig(command="x", keys={"vk_1": ["read"]})
    other = Principal("vk_2", "virtual")
    assert key_patterns(open_server, other) is None
    assert key_patterns(scoped, MASTER) == ["*"] and key_patterns(scoped, other) == ["read_*"]
    assert key_patterns(closed, other) == []
    with pytest.raises(ValueError, match="either 'command'"):
        McpServerConfig(command="x", url="http://127.0.0.1:1/mcp")


def test_unauthorized_answer_says_a_gateway_key_is_needed() -> None:
    headers, body = unauthorized_response(AuthenticationFailed("invalid API key"), presented=True)
    values = dict(headers)
    assert values[b"www-authenticate"].startswith(b'Bearer realm="adaptive-llm-gateway')
    assert b'error="invalid_token"' in values[b"www-authenticate"]
    assert b"needs an Adaptive LLM Gateway key" in body and b"OAuth is not used" in body


def test_caller_agent_precedence() -> None:
    caller = Caller(MASTER, client_name="claude-code")
    assert caller.agent() == "claude-code"
    assert Caller(MASTER, default_agent="claude", client_name="claude-code").agent() == "claude"
    assert caller.agent({"agent": "codex"}) == "codex"
    assert Caller(MASTER).agent() == "master"


async def test_passthrough_callers_only_get_model_tools(tmp_path: Path) -> None:
    gateway = Gateway(compile_config(parse_config(openai_config("http://127.0.0.1:9", mode="passthrough"))))
    services = McpServices(gateway, memory_root=tmp_path / "memory")
    caller = Caller(Principal("passthrough", "passthrough", "sk-…"))
    names = {t.name for t in services.list_tools(caller)}
    assert names and all(n.startswith("gateway_") for n in names)
    refused = await services.call_tool(caller, "memory_write", {"title": "x"})
    assert refused.is_error and "passthrough" in refused.content[0].text  # type: ignore[union-attr]
    with pytest.raises(MCPError):
        await services.call_tool(caller, "nope", {})
    assert not (tmp_path / "memory").exists()


async def test_stdio_without_a_config_file(tmp_path: Path) -> None:
    """`adaptive-llm-gateway mcp` before `init`: memory works, model tools say what is missing."""
    from adaptive_gateway.cli.mcp_cmds import _load

    compiled, watch = _load(tmp_path / "missing.yaml")
    assert watch is None and not compiled.models
    services = McpServices(Gateway(compiled), memory_root=tmp_path / "memory")
    caller = Caller(MASTER, transport="stdio")
    note = await services.call_tool(caller, "memory_write", {"title": "No config yet", "body": "x"})
    answer = await services.call_tool(caller, "gateway_complete", {"prompt": "x"})
    assert not note.is_error
    assert answer.is_error and "no model is configured" in answer.content[0].text  # type: ignore[union-attr]

"""Raw Codex CLI requests (recorded in /work/shared/client-samples) posted as Codex posts them: streaming,
``store: false``, the whole history each turn. Codex fails with "stream closed before response.completed"
unless the event sequence is complete, so every stream is checked event by event against the SDK types.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_KEY, GatewayThread

SAMPLES = Path("/work/shared/client-samples")
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
_CUT = re.compile(r"^\.\.\.<\d+ more>$")  # the recorder's marker for list items it left out
_DROP_HEADERS = {"host", "content-length", "authorization"}
ECHO_NS = {
    "type": "namespace",
    "name": "mcp__gw",
    "description": "Tools from the gw MCP server.",
    "tools": [
        {
            "type": "function",
            "name": "echo",
            "description": "Echo the text back.",
            "strict": False,
            "parameters": {
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
                "additionalProperties": False,
            },
        }
    ],
}

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="client samples not available")


def _clean(value: Any) -> Any:
    if isinstance(value, list):
        return [_clean(v) for v in value if not (isinstance(v, str) and _CUT.match(v))]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def sample(name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The recorded body (cut markers removed, model renamed) and Codex's own headers."""
    rec = json.loads((SAMPLES / name).read_text())
    body = _clean(rec["body"])
    body["model"] = "gpt-test"
    headers = {k: v for k, v in rec["headers"].items() if k not in _DROP_HEADERS}
    headers["authorization"] = f"Bearer {MASTER_KEY}"
    return body, headers


def post_stream(gw: GatewayThread, body: dict[str, Any], headers: dict[str, str]) -> list[dict[str, Any]]:
    """POST like Codex and return the SSE events, checking the framing of each."""
    events = []
    with (
        httpx.Client(timeout=20) as http,
        http.stream("POST", gw.url + "/v1/responses", json=body, headers=headers) as resp,
    ):
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = resp.read().decode()
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        event_line, data_line = block.split("\n")
        data = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {data['type']}"
        EVENTS.validate_python(data)
        events.append(data)
    assert raw.endswith("\n\n")
    return events


def check_sequence(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The complete lifecycle Codex needs; returns the final response."""
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed" and kinds.count("response.completed") == 1
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    added = {e["output_index"]: e["item"]["id"] for e in events if e["type"] == "response.output_item.added"}
    done = {e["output_index"]: e["item"]["id"] for e in events if e["type"] == "response.output_item.done"}
    assert added == done and added  # every item opened is closed, with the same id
    final: dict[str, Any] = events[-1]["response"]
    assert final["id"] == events[0]["response"]["id"] and final["usage"]["total_tokens"] > 0
    assert [o["id"] for o in final["output"]] == [done[i] for i in sorted(done)]
    return final


def test_codex_first_turn(gateway: GatewayThread, fake_openai: FakeUpstream) -> None:
    fake_openai.knobs = Knobs(text="PONG-3007616040")
    body, headers = sample("codex_first.json")
    final = check_sequence(post_stream(gateway, body, headers))
    assert final["output"][-1]["content"][0]["text"] == "PONG-3007616040"
    up = fake_openai.received[-1].json
    assert [m["role"] for m in up["messages"]] == ["system", "system", "user", "user"]
    names = [t["function"]["name"] for t in up["tools"]]
    assert "exec_command" in names and "multi_agent_v1__spawn_agent" in names
    assert up["stream"] is True and up["stream_options"] == {"include_usage": True}
    assert up["tool_choice"] == "auto" and up["parallel_tool_calls"] is True


def test_codex_function_call_output_turn(gateway: GatewayThread, fake_openai: FakeUpstream) -> None:
    body, headers = sample("codex_function_call_output.json")
    call = next(i for i in body["input"] if i.get("type") == "function_call")
    body["input"].append(
        {
            "type": "function_call_output",
            "call_id": call["call_id"],
            "output": "Chunk ID: 1\nOutput:\nSECRET-42\n",
        }
    )
    check_sequence(post_stream(gateway, body, headers))
    msgs = fake_openai.received[-1].json["messages"]
    assistant, tool = msgs[-2], msgs[-1]
    assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["id"] == call["call_id"]
    assert assistant["tool_calls"][0]["function"]["name"] == "exec_command"
    assert tool == {
        "role": "tool",
        "content": "Chunk ID: 1\nOutput:\nSECRET-42\n",
        "tool_call_id": call["call_id"],
    }
    # OpenAI's own encrypted reasoning cannot go to a chat-completions upstream
    assert "cmVjb3JkZXItcmVhc29uaW5n" not in json.dumps(msgs)


def test_codex_image_turn(gateway: GatewayThread, fake_openai: FakeUpstream) -> None:
    body, headers = sample("codex_image.json")
    check_sequence(post_stream(gateway, body, headers))
    parts = fake_openai.received[-1].json["messages"][-1]["content"]
    image = next(p for p in parts if p["type"] == "image_url")
    assert image["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    assert image["image_url"]["detail"] == "high"


def test_codex_mcp_namespace_tool_call(gateway: GatewayThread, fake_openai: FakeUpstream) -> None:
    body, headers = sample("codex_mcp_namespace.json")
    body["tools"].append(ECHO_NS)  # the recorder cut the namespace entry out of the sample
    body["tool_choice"] = {"type": "function", "name": "echo", "namespace": "mcp__gw"}
    events = post_stream(gateway, body, headers)
    final = check_sequence(events)
    call = final["output"][0]
    assert (call["type"], call["name"], call["namespace"]) == ("function_call", "echo", "mcp__gw")
    args = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert json.loads(args) == json.loads(call["arguments"]) and "text" in json.loads(args)
    # the next turn sends the call back with its namespace: the upstream sees the same flat name
    body["input"] += [call, {"type": "function_call_output", "call_id": call["call_id"], "output": "CXMCP"}]
    body["tool_choice"] = "auto"
    check_sequence(post_stream(gateway, body, headers))
    sent = fake_openai.received[-1].json["messages"][-2]
    assert sent["tool_calls"][0]["function"]["name"] == "mcp__gw__echo"


def test_codex_output_schema(gateway: GatewayThread, fake_openai: FakeUpstream) -> None:
    body, headers = sample("codex_output_schema.json")
    final = check_sequence(post_stream(gateway, body, headers))
    text = final["output"][-1]["content"][0]["text"]
    assert set(json.loads(text)) == {"name", "age"}
    rf = fake_openai.received[-1].json["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["name"] == "codex_output_schema"


def test_codex_upstream_failure_before_streaming_is_a_clean_http_error(
    gateway: GatewayThread, fake_openai: FakeUpstream
) -> None:
    fake_openai.knobs = Knobs(status=401)
    body, headers = sample("codex_first.json")
    resp = httpx.post(gateway.url + "/v1/responses", json=body, headers=headers, timeout=20)
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "authentication_error"

"""End to end through HTTP: the official anthropic SDK against the gateway, translated to an OpenAI
upstream and passed through to an Anthropic one; the openai SDK against an Anthropic upstream; raw Claude
Code requests. Every stream is rebuilt by the SDK's own accumulator, so block order and tool inputs are
checked the way a client sees them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.anthropic_gw import client_sample, two_fakes, two_upstreams_config
from tests.support.gateway import MASTER_KEY, GatewayThread

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with two_fakes() as both:
        yield both


@pytest.fixture(scope="module")
def gateway(
    fakes: tuple[FakeUpstream, FakeUpstream], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayThread]:
    oai, ant = fakes
    with GatewayThread(two_upstreams_config(oai.url, ant.url), tmp_path_factory.mktemp("gw")) as gw:
        yield gw


@pytest.fixture
def fake_openai(fakes: tuple[FakeUpstream, FakeUpstream]) -> Iterator[FakeUpstream]:
    fake = fakes[0]
    fake.knobs = Knobs()
    yield fake
    fake.knobs = Knobs()


@pytest.fixture
def fake_anthropic(fakes: tuple[FakeUpstream, FakeUpstream]) -> Iterator[FakeUpstream]:
    fake = fakes[1]
    fake.knobs = Knobs()
    yield fake
    fake.knobs = Knobs()


@pytest.fixture
def client(gateway: GatewayThread) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)


def last_json(fake: FakeUpstream) -> dict[str, Any]:
    body = fake.received[-1].json
    assert isinstance(body, dict)
    return body


def sse_events(raw: str) -> list[tuple[str, dict[str, Any]]]:
    """(event line, data) pairs; fails if any data line lacks its event line or they disagree."""
    out = []
    for block in raw.strip().split("\n\n"):
        lines = block.split("\n")
        assert lines[0].startswith("event: "), f"data without an event line: {block!r}"
        assert lines[1].startswith("data: ")
        data = json.loads(lines[1][6:])
        assert data["type"] == lines[0][7:]
        out.append((lines[0][7:], data))
    return out


def check_order(events: list[str]) -> None:
    """message_start, (content_block_start, [ping], delta*, content_block_stop)*, message_delta, stop."""
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    body = [e for e in events[1:-2] if e != "ping"]
    open_block = False
    for e in body:
        if e == "content_block_start":
            assert not open_block
            open_block = True
        elif e == "content_block_stop":
            assert open_block
            open_block = False
        else:
            assert e == "content_block_delta" and open_block
    assert not open_block
    if "ping" in events:
        assert events.index("ping") == events.index("content_block_start") + 1


# ---- anthropic SDK -> gateway -> OpenAI-compatible upstream ---------------------------------------------


def test_text_system_blocks_and_usage(client: anthropic.Anthropic, fake_openai: FakeUpstream) -> None:
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5",
        max_tokens=200,
        system=[
            {"type": "text", "text": "You are terse."},
            {"type": "text", "text": "Follow instructions.", "cache_control": {"type": "ephemeral"}},
        ],
        messages=[{"role": "user", "content": "Say hi"}],
        metadata={"user_id": "u-42"},
        stop_sequences=["STOP"],
        extra_body={"temperature": 0.3},  # SDK 2.x no longer has the argument; older clients send it
    )
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert msg.content[0].type == "text" and msg.content[0].text
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert raw.headers["x-adaptive-provider"] == "oai"
    up = last_json(fake_openai)
    assert up["model"] == "upstream-model" and up["max_tokens"] == 200
    assert up["messages"][0] == {"role": "system", "content": "You are terse.Follow instructions."}
    assert up["messages"][1] == {"role": "user", "content": [{"type": "text", "text": "Say hi"}]} or up[
        "messages"
    ][1] == {"role": "user", "content": "Say hi"}
    assert up["stop"] == ["STOP"] and up["temperature"] == 0.3
    assert "cache_control" not in json.dumps(up)


def test_multi_turn_and_image(client: anthropic.Anthropic, fake_openai: FakeUpstream) -> None:
    client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        messages=[
            {"role": "user", "content": "Remember 7."},
            {"role": "assistant", "content": "Noted."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                ],
            },
        ],
    )
    msgs = last_json(fake_openai)["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[1]["content"] == "Noted."
    assert msgs[2]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}"},
    }


def test_tools_round_trip_with_parallel_calls(client: anthropic.Anthropic, fake_openai: FakeUpstream) -> None:
    fake_openai.knobs = Knobs(tool_call=True, parallel_tools=2)
    msg = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=300,
        tools=[WEATHER],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Weather in Paris and Rome?"}],
    )
    up = last_json(fake_openai)
    assert up["tool_choice"] == "required"
    assert up["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]
    calls = [b for b in msg.content if b.type == "tool_use"]
    assert len(calls) == 2 and msg.stop_reason == "tool_use"
    assert all(c.input == {"city": "x"} and c.name == "get_weather" for c in calls)
    fake_openai.knobs = Knobs()
    results = [
        {"type": "tool_result", "tool_use_id": c.id, "content": f"sunny {i}"} for i, c in enumerate(calls)
    ]
    results[1]["is_error"] = True
    final = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=300,
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": [c.model_dump() for c in calls]},
            {"role": "user", "content": [*results, {"type": "text", "text": "Summarize."}]},
        ],
    )
    assert final.content[0].type == "text"
    msgs = last_json(fake_openai)["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool", "user"]
    assert [t["id"] for t in msgs[1]["tool_calls"]] == [c.id for c in calls]
    assert json.loads(msgs[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "x"}
    assert msgs[2] == {"role": "tool", "content": "sunny 0", "tool_call_id": calls[0].id}
    assert msgs[4]["content"] in ("Summarize.", [{"type": "text", "text": "Summarize."}])


def test_streaming_text(client: anthropic.Anthropic, fake_openai: FakeUpstream) -> None:
    fake_openai.knobs = Knobs(text="Hello there, streaming world.")
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello there, streaming world."
    assert final.content[0].type == "text" and final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0


def test_streaming_tool_calls_reassembled(client: anthropic.Anthropic, fake_openai: FakeUpstream) -> None:
    fake_openai.knobs = Knobs(tool_call=True, parallel_tools=2)
    with client.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=100,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "weather?"}],
    ) as stream:
        final = stream.get_final_message()
    calls = [b for b in final.content if b.type == "tool_use"]
    assert len(calls) == 2, final.content
    for call in calls:
        assert call.input == {"city": "x"}, "tool_use input must be the reassembled arguments, never {}"
        assert call.name == "get_weather" and call.id
    assert final.stop_reason == "tool_use"


def test_streaming_raw_event_framing_and_block_order(
    gateway: GatewayThread, fake_openai: FakeUpstream
) -> None:
    fake_openai.knobs = Knobs(reasoning="Think first.", text="Answer.")
    resp = httpx.post(
        gateway.url + "/v1/messages",
        headers={"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"},
        json={
            "model": "claude-sonnet-4-5",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
        timeout=20,
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    events = sse_events(resp.text)
    kinds = [k for k, _ in events]
    check_order(kinds)
    starts = [d["content_block"]["type"] for k, d in events if k == "content_block_start"]
    assert starts == ["thinking", "text"]
    indexes = [d["index"] for k, d in events if k == "content_block_start"]
    assert indexes == [0, 1]
    thinking = "".join(
        d["delta"].get("thinking", "") for k, d in events if d.get("index") == 0 and k.endswith("delta")
    )
    assert thinking == "Think first."


def test_thinking_then_text_via_sdk(client: anthropic.Anthropic, fake_openai: FakeUpstream) -> None:
    fake_openai.knobs = Knobs(reasoning="Step by step.", text="Done.")
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "go"}]
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Step by step." and final.content[1].text == "Done."
    msg = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "go"}]
    )
    assert [b.type for b in msg.content] == ["thinking", "text"]


def test_count_tokens_estimate(client: anthropic.Anthropic, gateway: GatewayThread) -> None:
    count = client.messages.count_tokens(
        model="claude-sonnet-4-5",
        system="You are terse.",
        tools=[WEATHER],
        messages=[{"role": "user", "content": "How many tokens is this sentence, roughly speaking?"}],
    )
    assert 20 < count.input_tokens < 200
    raw = httpx.post(
        gateway.url + "/v1/messages/count_tokens",
        headers={"x-api-key": MASTER_KEY},
        json={"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert raw.status_code == 200 and raw.headers["x-adaptive-token-count"] == "estimate"


def test_count_tokens_asks_an_anthropic_upstream(
    gateway: GatewayThread, fake_anthropic: FakeUpstream
) -> None:
    raw = httpx.post(
        gateway.url + "/v1/messages/count_tokens",
        headers={"x-api-key": MASTER_KEY},
        json={"model": "claude-opus-5-5", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert raw.status_code == 200 and raw.headers["x-adaptive-token-count"] == "upstream"
    assert fake_anthropic.received[-1].path == "/v1/messages/count_tokens"
    assert last_json(fake_anthropic)["model"] == "claude-sonnet-4-5"


# ---- errors in Anthropic's shape ------------------------------------------------------------------------


def test_unknown_model_is_a_404_in_anthropic_shape(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.create(model="nope", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "not_found_error" and "nope" in body["error"]["message"]


@pytest.mark.parametrize(
    ("content", "status", "kind", "fragment"),
    [
        (b'{"model": "claude-sonnet-4-5", "messages": [', 400, "invalid_request_error", "malformed JSON"),
        (
            b'{"model": "claude-sonnet-4-5", "max_tokens": 0, "messages": [{"role": "user", "content": ""}]}',
            400,
            "invalid_request_error",
            "max_tokens",
        ),
        (
            b'{"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]}',
            400,
            "invalid_request_error",
            "messages[0].role",
        ),
        (
            b'{"model": "claude-sonnet-4-5", "max_tokens": 5, "temperature": 1.5, "messages": []}',
            400,
            "invalid_request_error",
            "messages",
        ),
    ],
)
def test_bad_input(gateway: GatewayThread, content: bytes, status: int, kind: str, fragment: str) -> None:
    resp = httpx.post(
        gateway.url + "/v1/messages",
        content=content,
        headers={"x-api-key": MASTER_KEY, "content-type": "application/json"},
    )
    assert resp.status_code == status
    body = resp.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert fragment in body["error"]["message"]


def test_missing_key_is_401_authentication_error(gateway: GatewayThread) -> None:
    resp = httpx.post(gateway.url + "/v1/messages", json={"model": "x", "max_tokens": 1, "messages": []})
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "authentication_error"


def test_missing_max_tokens_is_filled_in(
    gateway: GatewayThread, fake_openai: FakeUpstream, fake_anthropic: FakeUpstream
) -> None:
    """Anthropic requires max_tokens; the gateway accepts its absence and fills in the target's default."""
    for model in ("claude-sonnet-4-5", "claude-capped"):
        resp = httpx.post(
            gateway.url + "/v1/messages",
            headers={"x-api-key": MASTER_KEY},
            json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
            timeout=20,
        )
        assert resp.status_code == 200, resp.text
    assert "max_tokens" not in last_json(fake_openai)  # OpenAI has no such requirement
    assert last_json(fake_anthropic)["max_tokens"] == 1234  # the deployment's max_output_tokens


def test_upstream_overloaded_maps_to_529(client: anthropic.Anthropic, fake_anthropic: FakeUpstream) -> None:
    fake_anthropic.knobs = Knobs(status=529)
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(
            model="claude-opus-5-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 529
    assert isinstance(info.value.body, dict) and info.value.body["error"]["type"] == "overloaded_error"


def test_upstream_rate_limit_keeps_429(client: anthropic.Anthropic, fake_openai: FakeUpstream) -> None:
    fake_openai.knobs = Knobs(status=429, retry_after=3)
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.response.headers.get("retry-after") == "3"
    assert isinstance(info.value.body, dict) and info.value.body["error"]["type"] == "rate_limit_error"


# ---- anthropic SDK -> gateway -> Anthropic upstream (passthrough) ---------------------------------------


def test_passthrough_forwards_body_and_bytes(
    client: anthropic.Anthropic, fake_anthropic: FakeUpstream
) -> None:
    fake_anthropic.knobs = Knobs(text="Native answer.")
    msg = client.messages.create(
        model="claude-opus-5-5",
        max_tokens=64,
        system=[{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"context_management": {"edits": [{"type": "clear_thinking_20251015"}]}, "top_k": 5},
        extra_headers={"anthropic-beta": "context-management-2025-06-27"},
    )
    assert msg.content[0].type == "text" and msg.content[0].text == "Native answer."
    got = fake_anthropic.received[-1]
    assert got.json["model"] == "claude-sonnet-4-5"
    assert got.json["context_management"] == {"edits": [{"type": "clear_thinking_20251015"}]}
    assert got.json["system"][0]["cache_control"] == {"type": "ephemeral"} and got.json["top_k"] == 5
    assert got.headers["x-api-key"] == "sk-ant-upstream" and got.headers["anthropic-version"] == "2023-06-01"
    assert got.headers["anthropic-beta"] == "context-management-2025-06-27"
    assert "authorization" not in got.headers


def test_passthrough_stream_is_byte_identical_and_accounted(
    gateway: GatewayThread, fake_anthropic: FakeUpstream
) -> None:
    fake_anthropic.knobs = Knobs(text="Streamed natively.", tool_call=False)
    body = {
        "model": "claude-opus-5-5",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "adaptive"},
    }
    resp = httpx.post(gateway.url + "/v1/messages", headers={"x-api-key": MASTER_KEY}, json=body, timeout=20)
    assert resp.status_code == 200
    events = sse_events(resp.text)
    check_order([k for k, _ in events])
    kinds = [d["content_block"]["type"] for k, d in events if k == "content_block_start"]
    assert kinds == ["thinking", "text"]
    assert resp.headers["x-adaptive-provider"] == "claude"


def test_claude_code_sample_raw_with_beta_query(gateway: GatewayThread, fake_anthropic: FakeUpstream) -> None:
    """A recorded Claude Code request, sent as Claude Code sends it (``?beta=true``, x-api-key, headers)."""
    try:
        rec = client_sample("claude_code_tool_reference.json")
    except FileNotFoundError:
        pytest.skip("client samples not available")
    headers = {
        k: v
        for k, v in rec["headers"].items()
        if k not in ("host", "content-length", "x-api-key", "accept-encoding")
    }
    headers["x-api-key"] = MASTER_KEY
    resp = httpx.post(gateway.url + "/v1/messages?beta=true", headers=headers, json=rec["body"], timeout=20)
    assert resp.status_code == 200, resp.text
    check_order([k for k, _ in sse_events(resp.text)])
    got = fake_anthropic.received[-1]
    assert got.json["context_management"] == rec["body"]["context_management"]
    assert got.json["output_config"] == rec["body"]["output_config"]
    assert got.json["messages"][1]["role"] == "system"  # Claude Code's in-conversation system entry
    assert got.json["messages"][3]["content"][0]["content"][0]["type"] == "tool_reference"
    assert got.headers["anthropic-beta"] == rec["headers"]["anthropic-beta"]


def test_claude_code_sample_translated_to_openai(gateway: GatewayThread, fake_openai: FakeUpstream) -> None:
    """The same Claude Code traffic against an OpenAI-compatible model: unknown fields dropped, the
    in-conversation system entry kept, tool_reference turned into text, the stream well formed."""
    try:
        rec = client_sample("claude_code_tool_reference.json")
    except FileNotFoundError:
        pytest.skip("client samples not available")
    body = {**rec["body"], "model": "claude-sonnet-4-5"}
    resp = httpx.post(
        gateway.url + "/v1/messages?beta=true", headers={"x-api-key": MASTER_KEY}, json=body, timeout=20
    )
    assert resp.status_code == 200, resp.text
    check_order([k for k, _ in sse_events(resp.text)])
    up = last_json(fake_openai)
    for key in ("context_management", "output_config", "thinking", "metadata"):
        assert key not in up
    assert all("defer_loading" not in t and "cache_control" not in t for t in up["tools"])
    roles = [m["role"] for m in up["messages"]]
    assert roles == ["system", "user", "system", "assistant", "tool", "user"]
    assert up["messages"][4]["content"] == "Tool loaded: mcp__gw__echo"
    assert json.loads(up["messages"][3]["tool_calls"][0]["function"]["arguments"])["query"]


# ---- openai SDK -> gateway -> Anthropic upstream --------------------------------------------------------


@pytest.fixture
def oai_client(gateway: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def test_openai_sdk_to_anthropic_text(oai_client: openai.OpenAI, fake_anthropic: FakeUpstream) -> None:
    fake_anthropic.knobs = Knobs(text="From Claude.")
    resp = oai_client.chat.completions.create(
        model="claude-native",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        max_tokens=50,
        temperature=1.7,
        stop=["END"],
        user="u-1",
    )
    assert resp.choices[0].message.content == "From Claude." and resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.prompt_tokens > 0
    up = last_json(fake_anthropic)
    assert up["system"] == [{"type": "text", "text": "Be brief."}]
    assert up["messages"] == [{"role": "user", "content": "hi"}]
    assert up["max_tokens"] == 50 and up["temperature"] == 1.0 and up["stop_sequences"] == ["END"]
    assert up["metadata"] == {"user_id": "u-1"}


def test_openai_sdk_to_anthropic_streaming(oai_client: openai.OpenAI, fake_anthropic: FakeUpstream) -> None:
    fake_anthropic.knobs = Knobs(text="One two three.")
    chunks = list(
        oai_client.chat.completions.create(
            model="claude-native",
            messages=[{"role": "user", "content": "count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "One two three."
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert last_json(fake_anthropic)["max_tokens"] == 16384  # catalog default for claude-sonnet-4


def test_openai_sdk_to_anthropic_tools(oai_client: openai.OpenAI, fake_anthropic: FakeUpstream) -> None:
    fake_anthropic.knobs = Knobs(tool_call=True, parallel_tools=2)
    tools: Any = [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER["input_schema"]}}
    ]
    resp = oai_client.chat.completions.create(
        model="claude-native",
        messages=[{"role": "user", "content": "weather?"}],
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    calls = resp.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 2 and resp.choices[0].finish_reason == "tool_calls"
    assert json.loads(calls[0].function.arguments) == {"city": "x"}  # type: ignore[union-attr]
    up = last_json(fake_anthropic)
    assert up["tool_choice"] == {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}
    assert up["tools"] == [{"name": "get_weather", "input_schema": WEATHER["input_schema"]}]
    # stream the same: argument pieces reassemble
    args: dict[int, str] = {}
    for chunk in oai_client.chat.completions.create(
        model="claude-native", messages=[{"role": "user", "content": "weather?"}], tools=tools, stream=True
    ):
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if tc.function and tc.function.arguments:
                args[tc.index] = args.get(tc.index, "") + tc.function.arguments
    assert {i: json.loads(a) for i, a in args.items()} == {0: {"city": "x"}, 1: {"city": "x"}}


def test_openai_sdk_to_anthropic_json_schema(oai_client: openai.OpenAI, fake_anthropic: FakeUpstream) -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    resp = oai_client.chat.completions.create(
        model="claude-native",
        messages=[{"role": "user", "content": "n?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema}},
    )
    assert json.loads(resp.choices[0].message.content or "") == {"n": 1}
    assert last_json(fake_anthropic)["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


def test_openai_sdk_image_and_multi_turn_to_anthropic(
    oai_client: openai.OpenAI, fake_anthropic: FakeUpstream
) -> None:
    content: Any = [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}},
    ]
    oai_client.chat.completions.create(
        model="claude-native",
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": content},
        ],
    )
    msgs = last_json(fake_anthropic)["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[2]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
    }
    assert msgs[2]["content"][2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.invalid/cat.png"},
    }


def test_openai_sdk_audio_to_anthropic_is_a_clear_400(
    oai_client: openai.OpenAI, fake_anthropic: FakeUpstream
) -> None:
    before = len(fake_anthropic.received)
    with pytest.raises(openai.BadRequestError) as info:
        oai_client.chat.completions.create(
            model="claude-native",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}],
                }
            ],
        )
    assert "messages[0].content[0]" in str(info.value)
    assert len(fake_anthropic.received) == before

"""Responses API -> Anthropic Messages upstream (Codex against Claude): the official openai SDK pointed at
the gateway, the fake Anthropic behind it. Runs once the ``anthropic`` adapter is in the registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.formats.openai_responses import SIGNATURE_PREFIX
from adaptive_gateway.providers.registry import build_registry
from tests.support.gateway import MASTER_HASH, MASTER_KEY, GatewayThread
from tests.wire.test_openai_responses_codex import check_sequence, post_stream, sample

pytestmark = pytest.mark.skipif(
    "anthropic" not in build_registry(), reason="anthropic adapter not registered"
)

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def anthropic_config(url: str) -> str:
    return f"""
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false}}
providers:
  claude: {{kind: anthropic, base_url: "{url}", api_key: "sk-ant-upstream",
           timeouts: {{connect: 2, read: 3, total: 10}}}}
models:
  gpt-test:
    deployments: [{{provider: claude, model: claude-sonnet-4-5}}]
"""


@pytest.fixture
def fake_anthropic() -> Iterator[FakeUpstream]:
    fake = FakeUpstream("anthropic").start_in_thread()
    try:
        yield fake
    finally:
        fake.stop_thread()


@pytest.fixture
def claude_gateway(fake_anthropic: FakeUpstream, tmp_path: Path) -> Iterator[GatewayThread]:
    with GatewayThread(anthropic_config(fake_anthropic.url), tmp_path) as gw:
        yield gw


@pytest.fixture
def client(claude_gateway: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=claude_gateway.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def sent(fake: FakeUpstream) -> dict[str, Any]:
    body = fake.received[-1].json
    assert isinstance(body, dict)
    return body


def test_text_instructions_and_usage(client: openai.OpenAI, fake_anthropic: FakeUpstream) -> None:
    resp = client.responses.create(model="gpt-test", instructions="Be brief.", input="Say hi")
    assert resp.output_text and resp.status == "completed"
    assert resp.usage is not None and resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
    up = sent(fake_anthropic)
    assert fake_anthropic.received[-1].path == "/v1/messages"
    assert up["model"] == "claude-sonnet-4-5" and up["max_tokens"] > 0
    assert "Be brief." in json.dumps(up["system"])
    assert up["messages"][0]["role"] == "user"


def test_streaming_text(client: openai.OpenAI) -> None:
    deltas: list[str] = []
    with client.responses.stream(model="gpt-test", input="hi") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert deltas and final.output_text == "".join(deltas)
    assert final.usage is not None and final.usage.output_tokens > 0


def test_tool_calls_round_trip(client: openai.OpenAI, fake_anthropic: FakeUpstream) -> None:
    fake_anthropic.knobs = Knobs(tool_call=True, parallel_tools=2)
    history: list[Any] = [{"role": "user", "content": "Weather in Paris and Rome?"}]
    first = client.responses.create(model="gpt-test", input=history, tools=[WEATHER])
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 2 and all(json.loads(c.arguments) == {"city": "x"} for c in calls)
    fake_anthropic.knobs = Knobs(text="Both sunny.")
    history += [o.model_dump(exclude_none=True) for o in first.output]
    history += [
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "22C"},
        {
            "type": "function_call_output",
            "call_id": calls[1].call_id,
            "output": [{"type": "input_text", "text": "25C"}],
        },
    ]
    second = client.responses.create(model="gpt-test", input=history, tools=[WEATHER])
    assert second.output_text == "Both sunny."
    msgs = sent(fake_anthropic)["messages"]
    uses = [b for b in msgs[1]["content"] if b["type"] == "tool_use"]
    assert [u["id"] for u in uses] == [c.call_id for c in calls]
    results = [b for m in msgs[2:] for b in m["content"] if b["type"] == "tool_result"]
    assert [r["tool_use_id"] for r in results] == [c.call_id for c in calls]
    assert "25C" in json.dumps(results[1])


def test_streaming_tool_call_arguments(client: openai.OpenAI, fake_anthropic: FakeUpstream) -> None:
    fake_anthropic.knobs = Knobs(tool_call=True)
    pieces: list[str] = []
    with client.responses.stream(model="gpt-test", input="weather?", tools=[WEATHER]) as stream:
        for event in stream:
            if event.type == "response.function_call_arguments.delta":
                pieces.append(event.delta)
        final = stream.get_final_response()
    call = next(o for o in final.output if o.type == "function_call")
    assert json.loads("".join(pieces)) == json.loads(call.arguments) == {"city": "x"}


def test_thinking_signature_round_trips_through_encrypted_content(
    client: openai.OpenAI, fake_anthropic: FakeUpstream
) -> None:
    fake_anthropic.knobs = Knobs(reasoning="I should check the weather", tool_call=True)
    history: list[Any] = [{"role": "user", "content": "weather?"}]
    with client.responses.stream(
        model="gpt-test",
        input=history,
        tools=[WEATHER],
        reasoning={"effort": "medium"},
        include=["reasoning.encrypted_content"],
    ) as s:
        first = s.get_final_response()
    rs = first.output[0]
    assert rs.type == "reasoning" and rs.summary[0].text == "I should check the weather"
    assert rs.encrypted_content is not None and rs.encrypted_content.startswith(SIGNATURE_PREFIX)
    fake_anthropic.knobs = Knobs(text="done")
    call = next(o for o in first.output if o.type == "function_call")
    history += [o.model_dump(exclude_none=True) for o in first.output]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "sunny"})
    client.responses.create(model="gpt-test", input=history, tools=[WEATHER], reasoning={"effort": "medium"})
    assistant = sent(fake_anthropic)["messages"][1]["content"]
    assert assistant[0] == {
        "type": "thinking",
        "thinking": "I should check the weather",
        "signature": rs.encrypted_content.removeprefix(SIGNATURE_PREFIX),
    }
    assert assistant[1]["type"] == "tool_use"


class Person(BaseModel):
    name: str
    age: int


def test_json_schema_output(client: openai.OpenAI) -> None:
    parsed = client.responses.parse(model="gpt-test", input="Alice is 31", text_format=Person)
    assert isinstance(parsed.output_parsed, Person)


def test_codex_first_turn_to_anthropic(claude_gateway: GatewayThread, fake_anthropic: FakeUpstream) -> None:
    body, headers = sample("codex_first.json")
    final = check_sequence(post_stream(claude_gateway, body, headers))
    assert final["output"][-1]["type"] == "message"
    up = sent(fake_anthropic)
    names = [t["name"] for t in up["tools"]]
    assert "exec_command" in names and "multi_agent_v1__close_agent" in names

"""Responses API to the other native upstreams (Gemini, Ollama): text, streaming, tool calls and a raw
Codex turn, each through the official openai SDK. A kind runs once its adapter is in the registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream, Kind
from adaptive_gateway.providers.registry import build_registry
from tests.support.gateway import MASTER_HASH, MASTER_KEY, GatewayThread
from tests.wire.test_openai_responses_codex import check_sequence, post_stream, sample

REGISTERED = build_registry()
KINDS = [
    pytest.param(k, marks=pytest.mark.skipif(k not in REGISTERED, reason=f"{k} adapter not registered"))
    for k in ("gemini", "ollama")
]
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def config(kind: str, url: str) -> str:
    return f"""
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false}}
providers:
  up: {{kind: {kind}, base_url: "{url}", api_key: "upstream-key",
        timeouts: {{connect: 2, read: 3, total: 10}}}}
models:
  gpt-test:
    deployments: [{{provider: up, model: upstream-model}}]
"""


@pytest.fixture(params=KINDS)
def fake(request: pytest.FixtureRequest) -> Iterator[FakeUpstream]:
    kind: Kind = request.param
    upstream = FakeUpstream(kind).start_in_thread()
    try:
        yield upstream
    finally:
        upstream.stop_thread()


@pytest.fixture
def gw(fake: FakeUpstream, tmp_path: Path) -> Iterator[GatewayThread]:
    with GatewayThread(config(fake.kind, fake.url), tmp_path) as gateway:
        yield gateway


@pytest.fixture
def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def test_text_and_stream(client: openai.OpenAI) -> None:
    resp = client.responses.create(model="gpt-test", instructions="Be brief.", input="Say hi")
    assert resp.output_text and resp.usage is not None and resp.usage.output_tokens > 0
    deltas: list[str] = []
    with client.responses.stream(model="gpt-test", input="hi") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert deltas and final.output_text == "".join(deltas)


def test_tool_calls_round_trip_and_streamed_arguments(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.knobs = Knobs(tool_call=True, parallel_tools=2)
    history: list[Any] = [{"role": "user", "content": "Weather in Paris and Rome?"}]
    with client.responses.stream(model="gpt-test", input=history, tools=[WEATHER]) as stream:
        first = stream.get_final_response()
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 2 and all(json.loads(c.arguments) == {"city": "x"} for c in calls)
    assert len({c.call_id for c in calls}) == 2
    fake.knobs = Knobs(text="Both sunny.")
    history += [o.model_dump(exclude_none=True) for o in first.output]
    history += [{"type": "function_call_output", "call_id": c.call_id, "output": "sunny"} for c in calls]
    second = client.responses.create(model="gpt-test", input=history, tools=[WEATHER])
    assert second.output_text == "Both sunny."


def test_codex_turn(gw: GatewayThread) -> None:
    body, headers = sample("codex_first.json")
    final = check_sequence(post_stream(gw, body, headers))
    assert final["output"][-1]["type"] == "message"

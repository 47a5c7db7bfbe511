"""End to end with the official openai SDK pointed at the gateway, against the fake upstream."""

from __future__ import annotations

import json

import openai
import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_KEY, GatewayThread


@pytest.fixture
def client(gateway: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def test_non_streaming_chat(client: openai.OpenAI, fake_openai: FakeUpstream) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}], temperature=0.2
    )
    resp = raw.parse()
    assert resp.choices[0].message.content
    assert resp.usage is not None and resp.usage.prompt_tokens > 0
    assert raw.headers["x-adaptive-provider"] == "fake"
    assert raw.headers["x-adaptive-upstream-model"] == "upstream-model"
    assert raw.headers["x-request-id"].startswith("req_")
    cost = float(raw.headers["x-adaptive-cost-usd"])
    expected = (resp.usage.prompt_tokens * 1.0 + resp.usage.completion_tokens * 2.0) / 1e6
    assert cost == pytest.approx(expected)
    sent = fake_openai.received[-1]
    assert sent.json["model"] == "upstream-model"
    assert sent.headers["authorization"] == "Bearer sk-upstream-secret"


def test_alias_and_request_id_echo(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-request-id": "abc-1"},
    )
    assert raw.headers["x-request-id"] == "abc-1"
    assert raw.parse().choices[0].message.content


def test_streaming_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_streaming_without_usage_hides_the_usage_chunk(
    client: openai.OpenAI, fake_openai: FakeUpstream
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(c.choices for c in chunks), "usage-only chunk leaked to a client that did not ask"
    # the gateway asked upstream for usage anyway, for exact accounting
    assert fake_openai.received[-1].json["stream_options"] == {"include_usage": True}


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def test_tool_calls_non_streaming(client: openai.OpenAI, fake_openai: FakeUpstream) -> None:
    fake_openai.knobs = Knobs(tool_call=True, parallel_tools=2)
    resp = client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "weather?"}], tools=TOOLS, tool_choice="auto"
    )
    calls = resp.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 2
    assert json.loads(calls[0].function.arguments) == {"city": "x"}
    assert resp.choices[0].finish_reason == "tool_calls"
    assert fake_openai.received[-1].json["tool_choice"] == "auto"


def test_tool_calls_streaming_reassemble(client: openai.OpenAI, fake_openai: FakeUpstream) -> None:
    fake_openai.knobs = Knobs(tool_call=True)
    args: dict[int, str] = {}
    names: dict[int, str] = {}
    for chunk in client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "weather?"}], tools=TOOLS, stream=True
    ):
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if tc.function and tc.function.name:
                names[tc.index] = tc.function.name
            if tc.function and tc.function.arguments:
                args[tc.index] = args.get(tc.index, "") + tc.function.arguments
    assert names == {0: "get_weather"}
    assert json.loads(args[0]) == {"city": "x"}


def test_structured_output_and_unknown_fields_pass_through(
    client: openai.OpenAI, fake_openai: FakeUpstream
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    resp = client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "n?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema}},
        n=1,
        logprobs=True,
        extra_body={"vendor_knob": {"x": 1}},
    )
    assert json.loads(resp.choices[0].message.content or "") == {"n": 1}
    sent = fake_openai.received[-1].json
    assert sent["vendor_knob"] == {"x": 1} and sent["logprobs"] is True
    assert sent["response_format"]["type"] == "json_schema"


def test_image_parts_pass_through(client: openai.OpenAI, fake_openai: FakeUpstream) -> None:
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": content}])
    assert fake_openai.received[-1].json["messages"][0]["content"] == content


def test_completions_embeddings_models(client: openai.OpenAI) -> None:
    comp = client.completions.create(model="gpt-test", prompt="Say hi")
    assert comp.choices[0].text
    emb = client.embeddings.create(model="gpt-test", input=["a", "b"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) > 0
    ids = {m.id for m in client.models.list()}
    assert ids == {"gpt-test", "gpt-4o-mini"}
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")

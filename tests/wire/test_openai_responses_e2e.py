"""``POST /v1/responses`` end to end: the official openai SDK pointed at the gateway, translated to a
chat-completions upstream (the fake OpenAI), asserting on what the SDK got and what the upstream received.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_KEY, GatewayThread

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "strict": True,
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
ECHO_NS = {
    "type": "namespace",
    "name": "mcp__gw",
    "description": "gw MCP server",
    "tools": [
        {
            "type": "function",
            "name": "echo",
            "description": "Echo text back.",
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
            },
        }
    ],
}


@pytest.fixture
def client(gateway: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def sent(fake: FakeUpstream) -> dict[str, Any]:
    body = fake.received[-1].json
    assert isinstance(body, dict)
    return body


def test_text_with_instructions(client: openai.OpenAI, fake_openai: FakeUpstream) -> None:
    raw = client.responses.with_raw_response.create(
        model="gpt-test", instructions="Be brief.", input="Say hi", max_output_tokens=64, temperature=0.2
    )
    resp = raw.parse()
    assert resp.output_text == "This is a concise summary from the fake"
    assert resp.id.startswith("resp_") and resp.status == "completed" and resp.model == "gpt-test"
    assert resp.usage is not None and resp.usage.input_tokens > 0 and resp.usage.output_tokens == 8
    assert resp.usage.total_tokens == resp.usage.input_tokens + 8
    assert raw.headers["x-adaptive-provider"] == "fake"
    up = sent(fake_openai)
    assert up["model"] == "upstream-model" and up["max_tokens"] == 64 and up["temperature"] == 0.2
    assert up["messages"][0] == {"role": "system", "content": "Be brief."}
    assert up["messages"][1]["role"] == "user"


def test_multi_turn_history(client: openai.OpenAI, fake_openai: FakeUpstream) -> None:
    fake_openai.knobs = Knobs(echo=True)
    resp = client.responses.create(
        model="gpt-4o-mini",
        input=[
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "answer one"},
            {"role": "user", "content": [{"type": "input_text", "text": "second question"}]},
        ],
    )
    assert resp.output_text == "second question"
    roles = [m["role"] for m in sent(fake_openai)["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


def test_function_call_round_trip_with_string_and_array_outputs(
    client: openai.OpenAI, fake_openai: FakeUpstream
) -> None:
    fake_openai.knobs = Knobs(tool_call=True, parallel_tools=2)
    history: list[Any] = [{"role": "user", "content": "Weather in Paris and Rome?"}]
    first = client.responses.create(
        model="gpt-test", input=history, tools=[WEATHER], parallel_tool_calls=True
    )
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 2 and {c.name for c in calls} == {"get_weather"}
    assert all(json.loads(c.arguments) == {"city": "x"} and c.status == "completed" for c in calls)
    assert sent(fake_openai)["tools"][0]["function"]["name"] == "get_weather"
    assert sent(fake_openai)["parallel_tool_calls"] is True

    fake_openai.knobs = Knobs(text="Both sunny.")
    history += [o.model_dump(exclude_none=True) for o in first.output]
    history += [
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"temp": 22}'},
        {
            "type": "function_call_output",
            "call_id": calls[1].call_id,
            "output": [{"type": "input_text", "text": "sunny, 25C"}],
        },
    ]
    second = client.responses.create(model="gpt-test", input=history, tools=[WEATHER])
    assert second.output_text == "Both sunny."
    msgs = sent(fake_openai)["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool"]
    assert [t["id"] for t in msgs[1]["tool_calls"]] == [c.call_id for c in calls]
    assert (msgs[2]["tool_call_id"], msgs[2]["content"]) == (calls[0].call_id, '{"temp": 22}')
    assert (msgs[3]["tool_call_id"], msgs[3]["content"]) == (calls[1].call_id, "sunny, 25C")


def test_streaming_text_with_the_sdk_helper(client: openai.OpenAI) -> None:
    deltas: list[str] = []
    kinds: list[str] = []
    with client.responses.stream(model="gpt-test", input="hi", instructions="sys") as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert final.output_text == "".join(deltas) == "This is a concise summary from the fake"
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert final.usage is not None and final.usage.output_tokens == 8


def test_streaming_function_call_arguments_reassemble(
    client: openai.OpenAI, fake_openai: FakeUpstream
) -> None:
    fake_openai.knobs = Knobs(tool_call=True, parallel_tools=2)
    pieces: dict[str, str] = {}
    done: dict[str, str] = {}
    with client.responses.stream(model="gpt-test", input="weather?", tools=[WEATHER]) as stream:
        for event in stream:
            if event.type == "response.function_call_arguments.delta":
                pieces[event.item_id] = pieces.get(event.item_id, "") + event.delta
            elif event.type == "response.function_call_arguments.done":
                done[event.item_id] = event.arguments
        final = stream.get_final_response()
    calls = [o for o in final.output if o.type == "function_call"]
    assert len(calls) == 2 and len(pieces) == 2 and pieces == done
    for call in calls:
        assert call.id is not None and json.loads(pieces[call.id]) == {"city": "x"}
        assert call.parsed_arguments == {"city": "x"}  # the SDK parsed our strict tool's arguments


def test_create_stream_true_event_sequence(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="gpt-test", input="hi", stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == "This is a concise summary from the fake"
    assert completed.response.id == events[0].response.id


class Person(BaseModel):
    name: str
    age: int


def test_text_format_json_schema_with_parse(client: openai.OpenAI, fake_openai: FakeUpstream) -> None:
    parsed = client.responses.parse(model="gpt-test", input="Alice is 31", text_format=Person)
    assert isinstance(parsed.output_parsed, Person)
    rf = sent(fake_openai)["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["name"] == "Person"
    assert rf["json_schema"]["schema"]["required"] == ["name", "age"]


def test_usage_with_reasoning_tokens_and_reasoning_item(
    client: openai.OpenAI, fake_openai: FakeUpstream
) -> None:
    fake_openai.knobs = Knobs(reasoning="Let me think this through")
    resp = client.responses.create(model="gpt-test", input="hi", reasoning={"effort": "high"})
    assert resp.usage is not None and resp.usage.output_tokens_details.reasoning_tokens == 5
    rs = resp.output[0]
    assert rs.type == "reasoning" and rs.summary[0].text == "Let me think this through"
    assert sent(fake_openai)["reasoning_effort"] == "high"
    summary: list[str] = []
    with client.responses.stream(model="gpt-test", input="hi") as stream:
        for event in stream:
            if event.type == "response.reasoning_summary_text.delta":
                summary.append(event.delta)
        final = stream.get_final_response()
    assert "".join(summary) == "Let me think this through"
    assert [o.type for o in final.output] == ["reasoning", "message"]
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens == 5


def test_namespace_tool_call_comes_back_with_its_namespace(
    client: openai.OpenAI, fake_openai: FakeUpstream
) -> None:
    resp = client.responses.create(
        model="gpt-test",
        input="echo hi",
        tools=[WEATHER, ECHO_NS],
        tool_choice={"type": "function", "name": "echo", "namespace": "mcp__gw"},
    )
    call = resp.output[0]
    assert call.type == "function_call" and (call.name, call.namespace) == ("echo", "mcp__gw")
    up = sent(fake_openai)
    assert [t["function"]["name"] for t in up["tools"]] == ["get_weather", "mcp__gw__echo"]
    assert up["tool_choice"] == {"type": "function", "function": {"name": "mcp__gw__echo"}}
    # streamed: the SDK finds the tool inside its namespace and parses the (strict) arguments
    with client.responses.stream(
        model="gpt-test", input="echo hi", tools=[ECHO_NS], tool_choice="required"
    ) as stream:
        final = stream.get_final_response()
    streamed = final.output[0]
    assert streamed.type == "function_call" and streamed.namespace == "mcp__gw"
    assert streamed.parsed_arguments == json.loads(streamed.arguments) and "text" in streamed.arguments


def test_max_output_tokens_cut_is_incomplete(client: openai.OpenAI) -> None:
    resp = client.responses.create(model="gpt-test", input="hi", max_output_tokens=3)
    assert resp.status == "incomplete" and resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "max_output_tokens"
    with client.responses.stream(model="gpt-test", input="hi", max_output_tokens=3) as stream:
        final = stream.get_final_response()
    assert final.status == "incomplete" and final.output_text == "This is a"


def test_previous_response_id_is_refused_clearly(client: openai.OpenAI, fake_openai: FakeUpstream) -> None:
    before = len(fake_openai.received)
    with pytest.raises(openai.BadRequestError) as exc:
        client.responses.create(model="gpt-test", input="again", previous_response_id="resp_123")
    err = exc.value.body
    assert isinstance(err, dict) and err["param"] == "previous_response_id"
    assert "does not store responses" in err["message"] and err["type"] == "invalid_request_error"
    assert len(fake_openai.received) == before  # refused before any upstream call


def test_errors_use_the_openai_shape(client: openai.OpenAI, fake_openai: FakeUpstream) -> None:
    with pytest.raises(openai.NotFoundError) as nf:
        client.responses.create(model="no-such-model", input="hi")
    assert "no-such-model" in str(nf.value)
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(
            model="gpt-test",
            input=[
                {
                    "role": "user",
                    "content": [{"type": "input_image", "file_id": "file-abc", "detail": "auto"}],
                }
            ],
        )
    assert isinstance(bad.value.body, dict) and bad.value.body["param"] == "input[0].content[0].file_id"
    fake_openai.knobs = Knobs(status=400)
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-test", input="hi")


def test_stream_dropped_midway_ends_with_response_failed(
    client: openai.OpenAI, fake_openai: FakeUpstream
) -> None:
    fake_openai.knobs = Knobs(drop_after=2, tokens=20)
    events = list(client.responses.create(model="gpt-test", input="hi", stream=True))
    assert events[0].type == "response.created"
    last = events[-1]
    assert last.type == "response.failed"
    assert last.response.status == "failed" and last.response.error is not None
    assert [e.sequence_number for e in events] == list(range(len(events)))
    with (
        client.responses.stream(model="gpt-test", input="hi") as stream,
        pytest.raises(RuntimeError, match=r"response\.completed"),
    ):
        stream.get_final_response()


def test_responses_path_without_v1(gateway: GatewayThread) -> None:
    bare = openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)
    assert bare.responses.create(model="gpt-test", input="hi").output_text

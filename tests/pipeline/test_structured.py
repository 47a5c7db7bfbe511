"""Structured-output fallback: extraction, validation, the repair turn, the final error; then wired into
the gateway for an adapter without native JSON-schema support."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import openai
import pytest

from adaptive_gateway.errors import InvalidRequest
from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.pipeline.structured import (
    StructuredOutputError,
    complete_structured,
    extract_json,
    instruct,
    validation_error,
)
from adaptive_gateway.providers.anthropic import AnthropicAdapter
from adaptive_gateway.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    ContentPart,
    FinishReason,
    Message,
    ResponseFormat,
    ToolCall,
    Usage,
)
from tests.support.anthropic_gw import two_upstreams_config
from tests.support.gateway import MASTER_KEY, GatewayThread

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"n": 1}', {"n": 1}),
        ("  [1, 2]  ", [1, 2]),
        ('Sure!\n```json\n{"n": 2}\n```\nAnything else?', {"n": 2}),
        ('```\n{"n": 3}\n```', {"n": 3}),
        ('The answer is {"n": 4, "s": "a } in a string"} as requested.', {"n": 4, "s": "a } in a string"}),
        ('Broken {"n": oops} then {"n": 5}', {"n": 5}),
        ('list: [{"a": [1, {"b": 2}]}] end', [{"a": [1, {"b": 2}]}]),
    ],
)
def test_extract_json(text: str, value: Any) -> None:
    assert extract_json(text) == value


@pytest.mark.parametrize("text", ["no json here", "", '{"unterminated": ', "] stray {"])
def test_extract_json_fails_clearly(text: str) -> None:
    with pytest.raises(ValueError, match="no JSON value found"):
        extract_json(text)


def test_validation_error_names_the_path() -> None:
    assert validation_error({"n": 1}, SCHEMA) is None
    assert validation_error({"n": "x"}, SCHEMA) == "at $.n: 'x' is not of type 'integer'"
    assert validation_error({}, SCHEMA) == "at $: 'n' is a required property"
    assert validation_error([1], None) == "expected a JSON object, got list"


def request(**kw: Any) -> ChatRequest:
    return ChatRequest(
        "m",
        [
            Message("system", [ContentPart("text", text="Be nice.")]),
            Message("user", [ContentPart("text", text="n?")]),
        ],
        response_format=ResponseFormat("json_schema", SCHEMA, "r"),
        raw={"x": 1},
        **kw,
    )


def test_instruct_adds_the_schema_after_the_leading_system_turns() -> None:
    out = instruct(request())
    assert [m.role for m in out.messages] == ["system", "system", "user"]
    assert json.dumps(SCHEMA, separators=(",", ":")) in out.messages[1].text()
    assert out.response_format is None and out.raw is None


def reply(text: str, finish: FinishReason = "stop", tool: bool = False) -> ChatResponse:
    msg = Message("assistant", [ContentPart("text", text=text)])
    if tool:
        msg.tool_calls.append(ToolCall("c", "f", "{}"))
    return ChatResponse("r", "m", [Choice(0, msg, finish)], Usage(10, 5), raw={"raw": True}, raw_bytes=b"x")


class Script:
    """An upstream stand-in answering with the given replies in turn, recording each request."""

    def __init__(self, *replies: ChatResponse) -> None:
        self.replies = list(replies)
        self.seen: list[ChatRequest] = []

    async def __call__(self, req: ChatRequest) -> ChatResponse:
        self.seen.append(req)
        return self.replies.pop(0)


async def test_valid_first_reply_is_cleaned() -> None:
    call = Script(reply('Here you go: ```json\n{"n": 7}\n```'))
    resp = await complete_structured(call, request())
    assert resp.choices[0].message.text() == '{"n":7}'
    assert resp.raw is None and resp.raw_bytes is None and len(call.seen) == 1


async def test_repair_turn_quotes_the_error_and_usage_adds_up() -> None:
    call = Script(reply('{"n": "seven"}'), reply('{"n": 7}'))
    resp = await complete_structured(call, request())
    assert json.loads(resp.choices[0].message.text()) == {"n": 7}
    assert resp.usage == Usage(20, 10)
    second = call.seen[1]
    assert [m.role for m in second.messages][-2:] == ["assistant", "user"]
    assert second.messages[-2].text() == '{"n": "seven"}'
    assert "at $.n: 'seven' is not of type 'integer'" in second.messages[-1].text()


async def test_second_failure_raises_naming_both_problems() -> None:
    call = Script(reply("I think it's seven."), reply("Seven!", finish="length"))
    with pytest.raises(StructuredOutputError) as info:
        await complete_structured(call, request())
    err = info.value
    assert err.status == 502 and err.code == "structured_output_invalid"
    assert "after one repair attempt" in err.message and "cut off by max_tokens" in err.message
    assert "I think it's seven." in err.message


async def test_tool_calls_and_json_object_mode() -> None:
    tool = reply("", tool=True)
    assert await complete_structured(Script(tool), request()) is tool
    req = request()
    req.response_format = ResponseFormat("json_object")
    resp = await complete_structured(Script(reply('{"any": "thing"}')), req)
    assert json.loads(resp.choices[0].message.text()) == {"any": "thing"}


async def test_invalid_schema_is_a_400() -> None:
    req = request()
    req.response_format = ResponseFormat("json_schema", {"type": "nonsense"})
    with pytest.raises(InvalidRequest) as info:
        await complete_structured(Script(), req)
    assert info.value.param == "response_format.json_schema.schema"


# ---- wired into the gateway for an adapter without native support ---------------------------------------


class InstructedAnthropic(AnthropicAdapter):
    supports_json_schema: ClassVar[bool] = False


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[GatewayThread, FakeUpstream]]:
    oai = FakeUpstream("openai").start_in_thread()
    ant = FakeUpstream("anthropic").start_in_thread()
    try:
        with GatewayThread(two_upstreams_config(oai.url, ant.url), tmp_path) as gw:
            gw.app.gateway.adapters["anthropic"] = InstructedAnthropic()
            yield gw, ant
    finally:
        oai.stop_thread()
        ant.stop_thread()


def test_gateway_uses_the_fallback_for_non_native_targets(setup: tuple[GatewayThread, FakeUpstream]) -> None:
    gw, fake = setup
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)
    fake.knobs = Knobs(text='Sure thing!\n```json\n{"n": 3}\n```')
    resp = client.chat.completions.create(
        model="claude-native",
        messages=[{"role": "user", "content": "n?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA}},
    )
    assert json.loads(resp.choices[0].message.content or "") == {"n": 3}
    sent = fake.received[-1].json
    assert "output_config" not in sent and "JSON Schema" in json.dumps(sent["system"])


def test_gateway_fallback_gives_up_after_one_repair(setup: tuple[GatewayThread, FakeUpstream]) -> None:
    gw, fake = setup
    fake.knobs = Knobs(text="Just prose, no JSON at all.")
    before = len(fake.received)
    resp = httpx.post(
        gw.url + "/v1/messages",
        headers={"x-api-key": MASTER_KEY},
        timeout=20,
        json={
            "model": "claude-opus-5-5",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "n?"}],
            "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}},
        },
    )
    assert resp.status_code == 502
    body = resp.json()
    assert body["type"] == "error" and "did not match the requested JSON schema" in body["error"]["message"]
    assert len(fake.received) - before == 2
    repair = fake.received[-1].json["messages"]
    assert [m["role"] for m in repair] == ["user", "assistant", "user"]
    assert "not valid" in json.dumps(repair[-1])

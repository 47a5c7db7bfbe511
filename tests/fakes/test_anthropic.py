from __future__ import annotations

from typing import Any

import aiohttp
import anthropic
import httpx2
import pytest
from pydantic import BaseModel

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.fakes.conftest import WEATHER_TOOL_SCHEMA

USER: Any = [{"role": "user", "content": "Say hello to the fake."}]
TOOLS: Any = [{"name": "get_weather", "description": "Weather.", "input_schema": WEATHER_TOOL_SCHEMA}]
EXPECTED_ARGS = {"city": "x", "unit": "celsius", "days": 1}


class Person(BaseModel):
    name: str
    age: int


def client(up: FakeUpstream, timeout: float = 10) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=up.url, api_key="k", max_retries=0, timeout=timeout)


async def test_messages_json(anthropic_fake: FakeUpstream) -> None:
    async with client(anthropic_fake) as c:
        msg = await c.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=USER)
    assert msg.content[0].type == "text" and msg.content[0].text.startswith("This is a concise")
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == 8 and msg.usage.input_tokens >= 1
    seen = anthropic_fake.received[-1]
    assert seen.headers["anthropic-version"] and seen.json["max_tokens"] == 100


async def test_stream_text_events_in_order(anthropic_fake: FakeUpstream) -> None:
    anthropic_fake.knobs = Knobs(text="one two three")
    async with (
        client(anthropic_fake) as c,
        c.messages.stream(model="m", max_tokens=100, messages=USER) as stream,
    ):
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.count("content_block_start") == 1 and "message_delta" in kinds
    assert final.content[0].type == "text" and final.content[0].text == "one two three"
    assert final.usage.output_tokens == 3


async def test_raw_sse_has_event_line_before_every_data(anthropic_fake: FakeUpstream) -> None:
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    body = {"model": "m", "max_tokens": 50, "messages": USER, "stream": True}
    url = anthropic_fake.url + "/v1/messages"
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as resp:
        text = await resp.text()
    events = [e for e in text.split("\n\n") if e]
    assert all(e.startswith("event: ") and "\ndata: {" in e for e in events)
    names = [e.split("\n")[0].removeprefix("event: ") for e in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


async def test_stream_thinking_then_tool_use(anthropic_fake: FakeUpstream) -> None:
    anthropic_fake.knobs = Knobs(tool_call=True, parallel_tools=2, reasoning="Weighing the tool.")
    async with (
        client(anthropic_fake) as c,
        c.messages.stream(
            model="m",
            max_tokens=2000,
            messages=USER,
            tools=TOOLS,
            thinking={"type": "enabled", "budget_tokens": 1024},
        ) as stream,
    ):
        json_deltas = [
            e async for e in stream if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
        ]
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "tool_use", "tool_use"]
    assert final.content[0].type == "thinking" and final.content[0].thinking == "Weighing the tool."
    assert final.content[0].signature
    assert all(b.input == EXPECTED_ARGS for b in final.content if b.type == "tool_use")
    assert len(json_deltas) == 6
    assert final.stop_reason == "tool_use"


async def test_adaptive_thinking_default_text_and_no_thinking_without_request(
    anthropic_fake: FakeUpstream,
) -> None:
    anthropic_fake.knobs = Knobs(reasoning="hidden unless asked")
    async with client(anthropic_fake) as c:
        plain = await c.messages.create(model="m", max_tokens=100, messages=USER)
        anthropic_fake.knobs = Knobs()
        adaptive = await c.messages.create(
            model="m",
            max_tokens=100,
            messages=USER,
            extra_body={"thinking": {"type": "adaptive"}},
        )
    assert [b.type for b in plain.content] == ["text"]
    assert adaptive.content[0].type == "thinking" and adaptive.content[0].thinking == "Let me think."


async def test_tool_choice_any_forces_tool_use(anthropic_fake: FakeUpstream) -> None:
    async with client(anthropic_fake) as c:
        msg = await c.messages.create(
            model="m", max_tokens=100, messages=USER, tools=TOOLS, tool_choice={"type": "any"}
        )
    assert msg.stop_reason == "tool_use"
    assert msg.content[0].type == "tool_use" and msg.content[0].input == EXPECTED_ARGS
    assert msg.content[0].id.startswith("toolu_")


async def test_structured_output_parse(anthropic_fake: FakeUpstream) -> None:
    async with client(anthropic_fake) as c:
        msg = await c.messages.parse(model="m", max_tokens=100, messages=USER, output_format=Person)
    assert msg.parsed_output == Person(name="x", age=1)


async def test_max_tokens_stop_reason(anthropic_fake: FakeUpstream) -> None:
    async with client(anthropic_fake) as c:
        msg = await c.messages.create(model="m", max_tokens=2, messages=USER)
    assert msg.stop_reason == "max_tokens" and msg.usage.output_tokens == 2


async def test_count_tokens_and_models(anthropic_fake: FakeUpstream) -> None:
    async with client(anthropic_fake) as c:
        count = await c.messages.count_tokens(model="m", messages=USER)
        models = [m.id async for m in c.models.list()]
    assert count.input_tokens >= 1
    assert "claude-sonnet-4-5" in models


async def test_missing_version_and_key(anthropic_fake: FakeUpstream) -> None:
    url = anthropic_fake.url + "/v1/messages"
    body = {"model": "m", "max_tokens": 5, "messages": USER}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body, headers={"x-api-key": "k"}) as resp:
            no_version = (resp.status, await resp.json())
        async with http.post(url, json=body, headers={"anthropic-version": "2023-06-01"}) as resp:
            no_key = (resp.status, await resp.json())
    assert no_version[0] == 400 and no_version[1]["error"]["type"] == "invalid_request_error"
    assert no_version[1]["type"] == "error"
    assert no_key[0] == 401 and no_key[1]["error"]["type"] == "authentication_error"


async def test_overloaded_and_rate_limited(anthropic_fake: FakeUpstream) -> None:
    anthropic_fake.knobs = Knobs(status=529)
    async with client(anthropic_fake) as c:
        with pytest.raises(anthropic.APIStatusError) as overloaded:
            await c.messages.create(model="m", max_tokens=5, messages=USER)
        anthropic_fake.knobs = Knobs(status=429, retry_after=3, fail_times=1)
        with pytest.raises(anthropic.RateLimitError) as limited:
            await c.messages.create(model="m", max_tokens=5, messages=USER)
        recovered = await c.messages.create(model="m", max_tokens=5, messages=USER)
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert limited.value.response.headers["retry-after"] == "3"
    assert recovered.stop_reason == "max_tokens"


async def test_drop_after_breaks_stream(anthropic_fake: FakeUpstream) -> None:
    anthropic_fake.knobs = Knobs(drop_after=3)
    text: list[str] = []
    async with client(anthropic_fake) as c:
        # The SDK lets the transport's error through while iterating a stream.
        with pytest.raises((anthropic.APIError, httpx2.HTTPError)):
            async with c.messages.stream(model="m", max_tokens=100, messages=USER) as stream:
                async for chunk in stream.text_stream:
                    text.append(chunk)
    assert "".join(text) == "This is a"


async def test_malformed_chunk_fails_the_sdk(anthropic_fake: FakeUpstream) -> None:
    anthropic_fake.knobs = Knobs(malformed=True)
    async with client(anthropic_fake) as c:
        with pytest.raises(ValueError):
            async with c.messages.stream(model="m", max_tokens=100, messages=USER) as stream:
                await stream.get_final_message()

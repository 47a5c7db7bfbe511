from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import openai
import pytest
from pydantic import BaseModel

from adaptive_gateway.fakes.answer import DEFAULT_TEXT
from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.fakes.conftest import WEATHER_TOOL_SCHEMA

USER: Any = [{"role": "user", "content": "Say hello to the fake."}]
TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL_SCHEMA}}]


def client(up: FakeUpstream, max_retries: int = 0, timeout: float = 10) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=up.url + "/v1", api_key="k", max_retries=max_retries, timeout=timeout)


class Person(BaseModel):
    name: str
    age: int


async def test_chat_json_text_and_usage(openai_fake: FakeUpstream) -> None:
    async with client(openai_fake) as c:
        resp = await c.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert resp.choices[0].message.content == " ".join(DEFAULT_TEXT.split()[:8])
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.completion_tokens == 8 and resp.usage.prompt_tokens >= 1
    seen = openai_fake.received[-1]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == "Bearer k"
    assert seen.json["messages"] == USER


async def test_chat_stream_with_usage_and_request_id(openai_fake: FakeUpstream) -> None:
    openai_fake.knobs = Knobs(tokens=5)
    async with client(openai_fake) as c:
        raw = await c.chat.completions.with_raw_response.create(
            model="m",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
        assert raw.headers["x-request-id"].startswith("req_")
        chunks = [chunk async for chunk in raw.parse()]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "This is a concise summary"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    assert openai_fake.completed_streams == 1 and openai_fake.active_streams == 0


async def test_streamed_parallel_tool_calls_split_arguments(openai_fake: FakeUpstream) -> None:
    openai_fake.knobs = Knobs(tool_call=True, parallel_tools=2)
    pieces: dict[int, list[str]] = {0: [], 1: []}
    finish = None
    async with client(openai_fake) as c:
        stream = await c.chat.completions.create(model="m", messages=USER, tools=TOOLS, stream=True)
        async for chunk in stream:
            for call in chunk.choices[0].delta.tool_calls or []:
                if call.id:
                    assert call.function is not None and call.function.name == "get_weather"
                elif call.function is not None and call.function.arguments:
                    pieces[call.index].append(call.function.arguments)
            finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    for index in (0, 1):
        assert len(pieces[index]) == 3
        assert json.loads("".join(pieces[index])) == {"city": "x", "unit": "celsius", "days": 1}


async def test_tool_choice_required_forces_call_json(openai_fake: FakeUpstream) -> None:
    async with client(openai_fake) as c:
        resp = await c.chat.completions.create(
            model="m",
            messages=USER,
            tools=TOOLS,
            tool_choice="required",
        )
    calls = resp.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    assert json.loads(calls[0].model_dump()["function"]["arguments"])["unit"] == "celsius"
    assert resp.choices[0].finish_reason == "tool_calls"


async def test_structured_output_parses(openai_fake: FakeUpstream) -> None:
    async with client(openai_fake) as c:
        resp = await c.chat.completions.parse(model="m", messages=USER, response_format=Person)
    assert resp.choices[0].message.parsed == Person(name="x", age=1)


async def test_json_object_and_echo(openai_fake: FakeUpstream) -> None:
    openai_fake.knobs = Knobs(echo=True)
    async with client(openai_fake) as c:
        resp = await c.chat.completions.create(
            model="m",
            messages=USER,
            response_format={"type": "json_object"},
        )
    assert json.loads(resp.choices[0].message.content or "") == {"answer": "Say hello to the fake."}


async def test_max_tokens_cuts_with_length(openai_fake: FakeUpstream) -> None:
    async with client(openai_fake) as c:
        resp = await c.chat.completions.create(model="m", messages=USER, max_tokens=3)
    assert resp.choices[0].message.content == "This is a"
    assert resp.choices[0].finish_reason == "length"


async def test_legacy_completions_embeddings_models(openai_fake: FakeUpstream) -> None:
    async with client(openai_fake) as c:
        comp = await c.completions.create(model="m", prompt="hello", max_tokens=2)
        stream = await c.completions.create(model="m", prompt="hello", stream=True)
        streamed = "".join([chunk.choices[0].text async for chunk in stream])
        first = await c.embeddings.create(model="e", input=["a", "b"])
        again = await c.embeddings.create(model="e", input="a", encoding_format="float")
        models = [m.id async for m in c.models.list()]
    assert comp.choices[0].text == "This is" and comp.choices[0].finish_reason == "length"
    assert streamed.startswith("This is a")
    assert len(first.data) == 2 and len(first.data[0].embedding) == 8
    assert first.data[0].embedding == pytest.approx(again.data[0].embedding, abs=1e-6)
    assert first.data[0].embedding != first.data[1].embedding
    assert "gpt-4o-mini" in models


async def test_error_status_native_body(openai_fake: FakeUpstream) -> None:
    openai_fake.knobs = Knobs(status=400)
    async with client(openai_fake) as c:
        with pytest.raises(openai.BadRequestError) as info:
            await c.chat.completions.create(model="m", messages=USER)
    assert info.value.body == {
        "message": "Fake upstream error 400.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


async def test_fail_times_then_recovers_via_sdk_retries(openai_fake: FakeUpstream) -> None:
    openai_fake.knobs = Knobs(status=429, fail_times=2, retry_after_ms=5)
    async with client(openai_fake, max_retries=2) as c:
        resp = await c.chat.completions.create(model="m", messages=USER)
    assert resp.choices[0].message.content
    assert len(openai_fake.received) == 3
    assert openai_fake.knobs.status == 200


async def test_429_retry_after_headers(openai_fake: FakeUpstream) -> None:
    openai_fake.knobs = Knobs(status=429, retry_after=7, retry_after_ms=7000)
    url = openai_fake.url + "/v1/chat/completions"
    async with aiohttp.ClientSession() as http, http.post(url, json={"messages": USER}) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "7" and resp.headers["retry-after-ms"] == "7000"
        body = await resp.json()
    assert body["error"]["code"] == "rate_limit_exceeded"


async def test_header_overrides_per_request(openai_fake: FakeUpstream) -> None:
    url = openai_fake.url + "/v1/chat/completions"
    statuses = []
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            headers = {"x-fake-status": "503", "x-fake-fail-times": "2", "x-fake-fail-key": "t1"}
            async with http.post(url, json={"messages": USER}, headers=headers) as resp:
                statuses.append(resp.status)
        async with http.post(url, json={"messages": USER}, headers={"x-fake-text": "overridden"}) as resp:
            body = await resp.json()
    assert statuses == [503, 503, 200]
    assert body["choices"][0]["message"]["content"] == "overridden"
    assert openai_fake.knobs == Knobs()


async def test_drop_after_breaks_the_stream(openai_fake: FakeUpstream) -> None:
    openai_fake.knobs = Knobs(drop_after=2)
    got: list[str] = []
    async with client(openai_fake) as c:
        stream = await c.chat.completions.create(model="m", messages=USER, stream=True)
        with pytest.raises(openai.APIError):
            async for chunk in stream:
                got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "This is"
    assert openai_fake.dropped_streams == 1


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


async def test_malformed_chunk_in_stream(openai_fake: FakeUpstream) -> None:
    openai_fake.knobs = Knobs(malformed=True)
    body = {"messages": USER, "stream": True}
    url = openai_fake.url + "/v1/chat/completions"
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        events = [line for line in (await resp.text()).split("\n\n") if line]
    bad = [e for e in events if e != "data: [DONE]" and not _is_json(e.removeprefix("data: "))]
    assert len(bad) == 1 and events[-1] == "data: [DONE]"


async def test_hang_until_client_timeout(openai_fake: FakeUpstream) -> None:
    openai_fake.knobs = Knobs(hang=True)
    async with client(openai_fake, timeout=0.3) as c:
        with pytest.raises(openai.APITimeoutError):
            await c.chat.completions.create(model="m", messages=USER)


async def test_client_disconnect_cancels_stream(openai_fake: FakeUpstream) -> None:
    openai_fake.knobs = Knobs(token_rate=20, tokens=200)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            openai_fake.url + "/v1/chat/completions", json={"messages": USER, "stream": True}
        )
        await resp.content.readline()
        assert openai_fake.active_streams == 1
        resp.close()
    for _ in range(100):
        if openai_fake.cancelled_streams:
            break
        await asyncio.sleep(0.02)
    assert openai_fake.cancelled_streams == 1 and openai_fake.active_streams == 0


def test_threaded_server_for_sync_clients() -> None:
    with FakeUpstream("openai", Knobs(text="sync works")) as up:
        sync = openai.OpenAI(base_url=up.url + "/v1", api_key="k")
        resp = sync.chat.completions.create(model="m", messages=USER)
        sync.close()
    assert resp.choices[0].message.content == "sync works"

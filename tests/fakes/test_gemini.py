from __future__ import annotations

import json

import aiohttp
import httpx2
import pytest
from google import genai
from google.genai import errors, types
from pydantic import BaseModel

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.fakes.conftest import WEATHER_TOOL_SCHEMA

MODEL = "gemini-2.5-flash"
WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather", description="Weather.", parameters_json_schema=WEATHER_TOOL_SCHEMA
        )
    ]
)
EXPECTED_ARGS = {"city": "x", "unit": "celsius", "days": 1}


class Person(BaseModel):
    name: str
    age: int


def client(up: FakeUpstream) -> genai.Client:
    return genai.Client(api_key="k", http_options=types.HttpOptions(base_url=up.url, api_version="v1beta"))


async def test_generate_content_text_and_usage(gemini_fake: FakeUpstream) -> None:
    resp = await client(gemini_fake).aio.models.generate_content(model=MODEL, contents="Say hi.")
    assert resp.text == "This is a concise summary from the fake"
    assert resp.candidates and resp.candidates[0].finish_reason == types.FinishReason.STOP
    usage = resp.usage_metadata
    assert usage is not None and usage.candidates_token_count == 8
    assert usage.total_token_count == (usage.prompt_token_count or 0) + 8
    seen = gemini_fake.received[-1]
    assert seen.path == f"/v1beta/models/{MODEL}:generateContent"
    assert seen.headers["x-goog-api-key"] == "k"


async def test_stream_sse_chunks_end_with_finish_and_usage(gemini_fake: FakeUpstream) -> None:
    gemini_fake.knobs = Knobs(tokens=4, reasoning="thinking hard")
    stream = await client(gemini_fake).aio.models.generate_content_stream(model=MODEL, contents="Say hi.")
    chunks = [chunk async for chunk in stream]
    assert "".join(c.text or "" for c in chunks) == "This is a concise"
    thoughts = [p.text for c in chunks for p in (c.candidates[0].content.parts or []) if p.thought]  # type: ignore[index, union-attr]
    assert "".join(t or "" for t in thoughts) == "thinking hard"
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None and last.usage_metadata.thoughts_token_count == 2
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks[:-1])
    assert gemini_fake.received[-1].query == {"alt": "sse"}


async def test_raw_sse_uses_crlf_separators(gemini_fake: FakeUpstream) -> None:
    url = f"{gemini_fake.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse&key=k"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        text = await resp.text()
    events = [e for e in text.split("\r\n\r\n") if e]
    assert all(e.startswith("data: ") for e in events)
    last = json.loads(events[-1].removeprefix("data: "))
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert set(last["usageMetadata"]) >= {"promptTokenCount", "candidatesTokenCount", "totalTokenCount"}


async def test_function_calls_whole_parts(gemini_fake: FakeUpstream) -> None:
    gemini_fake.knobs = Knobs(tool_call=True, parallel_tools=2)
    config = types.GenerateContentConfig(tools=[WEATHER])
    resp = await client(gemini_fake).aio.models.generate_content(
        model=MODEL, contents="Weather?", config=config
    )
    calls = resp.function_calls or []
    assert [c.name for c in calls] == ["get_weather", "get_weather"]
    assert all(c.args == EXPECTED_ARGS for c in calls)
    stream = await client(gemini_fake).aio.models.generate_content_stream(
        model=MODEL, contents="Hi", config=config
    )
    streamed = [c.function_calls async for c in stream if c.function_calls]
    assert len(streamed) == 1 and len(streamed[0]) == 2


async def test_function_calling_mode_any_forces_call(gemini_fake: FakeUpstream) -> None:
    mode = types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.ANY)
    config = types.GenerateContentConfig(
        tools=[WEATHER], tool_config=types.ToolConfig(function_calling_config=mode)
    )
    resp = await client(gemini_fake).aio.models.generate_content(
        model=MODEL, contents="Weather?", config=config
    )
    assert resp.function_calls and resp.function_calls[0].args == EXPECTED_ARGS


async def test_structured_output_response_schema(gemini_fake: FakeUpstream) -> None:
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=Person)
    resp = await client(gemini_fake).aio.models.generate_content(
        model=MODEL, contents="Alice, 31", config=config
    )
    assert resp.parsed == Person(name="x", age=1)
    schema_config = types.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=Person.model_json_schema()
    )
    resp = await client(gemini_fake).aio.models.generate_content(
        model=MODEL, contents="Hi", config=schema_config
    )
    assert json.loads(resp.text or "") == {"name": "x", "age": 1}


async def test_errors_native_shape(gemini_fake: FakeUpstream) -> None:
    gemini_fake.knobs = Knobs(status=429, retry_after=2)
    with pytest.raises(errors.ClientError) as info:
        await client(gemini_fake).aio.models.generate_content(model=MODEL, contents="Hi")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    gemini_fake.knobs = Knobs(status=503, fail_times=1)
    with pytest.raises(errors.ServerError) as server:
        await client(gemini_fake).aio.models.generate_content(model=MODEL, contents="Hi")
    assert server.value.status == "UNAVAILABLE"
    assert (await client(gemini_fake).aio.models.generate_content(model=MODEL, contents="Hi")).text


async def test_key_required_header_or_query(gemini_fake: FakeUpstream) -> None:
    url = f"{gemini_fake.url}/v1beta/models/{MODEL}:generateContent"
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body) as resp:
            missing = (resp.status, await resp.json())
        async with http.post(url + "?key=k", json=body) as resp:
            by_query = resp.status
    assert missing[0] == 403 and missing[1]["error"]["status"] == "PERMISSION_DENIED"
    assert by_query == 200


async def test_models_count_tokens_embed(gemini_fake: FakeUpstream) -> None:
    c = client(gemini_fake)
    names = [m.name async for m in await c.aio.models.list()]
    count = await c.aio.models.count_tokens(model=MODEL, contents="Hello there")
    embedded = await c.aio.models.embed_content(model="gemini-embedding-001", contents="Hello there")
    assert f"models/{MODEL}" in names
    assert (count.total_tokens or 0) >= 1
    assert embedded.embeddings and len(embedded.embeddings[0].values or []) == 8


async def test_drop_after_and_malformed_break_the_stream(gemini_fake: FakeUpstream) -> None:
    gemini_fake.knobs = Knobs(drop_after=2)
    got: list[str] = []
    # The SDK surfaces its transport's own error type for a cut stream.
    with pytest.raises((aiohttp.ClientError, httpx2.HTTPError)):
        async for chunk in await client(gemini_fake).aio.models.generate_content_stream(
            model=MODEL, contents="Hi"
        ):
            got.append(chunk.text or "")
    assert "".join(got) == "This is"
    gemini_fake.knobs = Knobs(malformed=True)
    with pytest.raises(errors.UnknownApiResponseError):
        async for _ in await client(gemini_fake).aio.models.generate_content_stream(
            model=MODEL, contents="Hi"
        ):
            pass

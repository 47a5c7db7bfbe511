from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.fakes.conftest import WEATHER_TOOL_SCHEMA

USER: Any = [{"role": "user", "content": "Say hello to the fake."}]
TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL_SCHEMA}}]


async def post_lines(up: FakeUpstream, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(up.url + path, json=body) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/x-ndjson"
        return [json.loads(line) async for line in resp.content if line.strip()]


async def test_chat_streams_ndjson_by_default(ollama_fake: FakeUpstream) -> None:
    lines = await post_lines(ollama_fake, "/api/chat", {"model": "llama3.2", "messages": USER})
    assert all(not line["done"] for line in lines[:-1])
    assert "".join(line["message"]["content"] for line in lines) == "This is a concise summary from the fake"
    done = lines[-1]
    assert done["done"] is True and done["done_reason"] == "stop"
    assert done["eval_count"] == 8 and done["prompt_eval_count"] >= 1


async def test_chat_non_streaming_with_tool_call_object_arguments(ollama_fake: FakeUpstream) -> None:
    ollama_fake.knobs = Knobs(tool_call=True)
    body = {"model": "llama3.2", "messages": USER, "tools": TOOLS, "stream": False}
    async with aiohttp.ClientSession() as http, http.post(ollama_fake.url + "/api/chat", json=body) as resp:
        data = await resp.json()
    call = data["message"]["tool_calls"][0]["function"]
    assert call["name"] == "get_weather"
    assert call["arguments"] == {"city": "x", "unit": "celsius", "days": 1}
    assert data["done"] is True


async def test_streamed_tool_calls_thinking_and_format(ollama_fake: FakeUpstream) -> None:
    ollama_fake.knobs = Knobs(tool_call=True, parallel_tools=2, reasoning="let me see")
    lines = await post_lines(ollama_fake, "/api/chat", {"model": "m", "messages": USER, "tools": TOOLS})
    assert "".join(line["message"].get("thinking", "") for line in lines) == "let me see"
    calls = [c for line in lines for c in line["message"].get("tool_calls", [])]
    assert [c["function"]["index"] for c in calls] == [0, 1]
    ollama_fake.knobs = Knobs()
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    lines = await post_lines(ollama_fake, "/api/chat", {"model": "m", "messages": USER, "format": schema})
    assert json.loads("".join(line["message"]["content"] for line in lines)) == {"name": "x"}


async def test_num_predict_sets_length(ollama_fake: FakeUpstream) -> None:
    body = {"model": "m", "messages": USER, "options": {"num_predict": 2}}
    lines = await post_lines(ollama_fake, "/api/chat", body)
    assert lines[-1]["done_reason"] == "length" and lines[-1]["eval_count"] == 2


async def test_generate_and_embed(ollama_fake: FakeUpstream) -> None:
    lines = await post_lines(ollama_fake, "/api/generate", {"model": "m", "prompt": "hi"})
    assert "".join(line["response"] for line in lines).startswith("This is")
    async with (
        aiohttp.ClientSession() as http,
        http.post(ollama_fake.url + "/api/embed", json={"model": "e", "input": ["a", "b"]}) as resp,
    ):
        embedded = await resp.json()
    assert len(embedded["embeddings"]) == 2 and len(embedded["embeddings"][0]) == 8


async def test_tags_version_show(ollama_fake: FakeUpstream) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(ollama_fake.url + "/api/tags") as resp:
            tags = await resp.json()
        async with http.get(ollama_fake.url + "/api/version") as resp:
            version = await resp.json()
        async with http.post(ollama_fake.url + "/api/show", json={"model": "llama3.2:latest"}) as resp:
            show = await resp.json()
    assert "llama3.2:latest" in [m["name"] for m in tags["models"]]
    assert version["version"]
    assert show["model_info"]["llama.context_length"] > 0


async def test_openai_compatible_api(ollama_fake: FakeUpstream) -> None:
    async with openai.AsyncOpenAI(base_url=ollama_fake.url + "/v1", api_key="ollama", max_retries=0) as c:
        resp = await c.chat.completions.create(model="llama3.2", messages=USER)
        models = [m.id async for m in c.models.list()]
    assert resp.choices[0].message.content
    assert "llama3.2:latest" in models


async def test_error_and_drop(ollama_fake: FakeUpstream) -> None:
    ollama_fake.knobs = Knobs(status=500)
    async with aiohttp.ClientSession() as http:
        async with http.post(ollama_fake.url + "/api/chat", json={"messages": USER}) as resp:
            assert resp.status == 500 and "error" in await resp.json()
        ollama_fake.knobs = Knobs(drop_after=1)
        async with http.post(ollama_fake.url + "/api/chat", json={"messages": USER}) as resp:
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
    assert ollama_fake.dropped_streams == 1


async def test_malformed_line(ollama_fake: FakeUpstream) -> None:
    ollama_fake.knobs = Knobs(malformed=True)
    async with (
        aiohttp.ClientSession() as http,
        http.post(ollama_fake.url + "/api/chat", json={"messages": USER}) as resp,
    ):
        raw = [line for line in (await resp.text()).splitlines() if line]
    bad = []
    for line in raw:
        try:
            json.loads(line)
        except ValueError:
            bad.append(line)
    assert len(bad) == 1 and json.loads(raw[-1])["done"] is True

"""An upstream that answers a streamed request with one whole JSON answer (servers that cannot stream):
the client still gets a well-formed stream in its own format, with usage, through the official SDKs,
for each pairing of client and upstream format; the answer is accounted and cached like a stream."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.pipeline.whole_answer import as_native_stream, is_whole_answer
from adaptive_gateway.providers.anthropic import AnthropicAdapter
from adaptive_gateway.providers.gemini import GeminiAdapter
from adaptive_gateway.providers.ollama import OllamaAdapter
from adaptive_gateway.providers.openai import OpenAIAdapter
from adaptive_gateway.types import ChatRequest, ContentPart, Message
from tests.support.anthropic_gw import two_fakes, two_upstreams_config
from tests.support.gateway import MASTER_KEY, GatewayThread

TEXT = "one whole answer instead of a stream"
CACHED = "models: {gpt-cached: {deployments: [{provider: oai, model: upstream-model}]}}"


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with two_fakes(Knobs(ignore_stream=True, text=TEXT)) as both:
        yield both


@pytest.fixture(scope="module")
def gateway(
    fakes: tuple[FakeUpstream, FakeUpstream], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayThread]:
    oai, ant = fakes
    config = two_upstreams_config(oai.url, ant.url, extra="cache: {enabled: true}")
    with GatewayThread(config, tmp_path_factory.mktemp("gw")) as gw:
        yield gw


def openai_client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def anthropic_client(gw: GatewayThread) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=MASTER_KEY, max_retries=0)


def test_the_fake_really_ignores_stream(fakes: tuple[FakeUpstream, FakeUpstream]) -> None:
    r = httpx.post(
        fakes[0].url + "/v1/chat/completions",
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["choices"][0]["message"]["content"] == TEXT


@pytest.mark.parametrize("model", ["gpt-test", "claude-native"])  # pass-through; translated from Anthropic
@pytest.mark.parametrize("include_usage", [True, False])
def test_openai_sdk_gets_a_stream(gateway: GatewayThread, model: str, include_usage: bool) -> None:
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    with openai_client(gateway).chat.completions.with_streaming_response.create(
        model=model,
        messages=[{"role": "user", "content": f"openai {model} {include_usage}"}],
        stream=True,
        temperature=1.5,  # above the cache's max: every request reaches the upstream
        **extra,  # type: ignore[arg-type]
    ) as raw:
        assert raw.headers["content-type"].startswith("text/event-stream")
        assert raw.headers["x-cache"] == "bypass"
        chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == TEXT
    assert chunks[0].choices[0].delta.role == "assistant"
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    usage = [c.usage for c in chunks if c.usage is not None]
    if include_usage:
        assert chunks[-1].choices == [] and usage and usage[-1].completion_tokens > 0
    else:
        assert not usage and all(c.choices for c in chunks)


@pytest.mark.parametrize("model", ["claude-native", "gpt-test"])  # pass-through; translated from OpenAI
def test_anthropic_sdk_gets_a_stream(gateway: GatewayThread, model: str) -> None:
    with anthropic_client(gateway).messages.stream(
        model=model,
        max_tokens=100,
        messages=[{"role": "user", "content": f"anthropic {model}"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == TEXT
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0


def test_the_answer_is_accounted_and_cached(gateway: GatewayThread) -> None:
    """A stream rendered from a whole answer carries the upstream's usage (receipt, cost) and is stored
    by the response cache like any stream: the repeat is a hit with the same text."""
    client = openai_client(gateway)
    body = {
        "model": "gpt-test",
        "temperature": 0,
        "messages": [{"role": "user", "content": "cache this whole answer"}],
    }
    seen = []
    for _ in range(2):
        with client.chat.completions.with_streaming_response.create(
            **body,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        ) as raw:
            chunks = list(raw.parse())
            seen.append((raw.headers["x-cache"], raw.headers["x-adaptive-receipt"]))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    assert [cache for cache, _ in seen] == ["miss", "hit"]
    receipt = _receipt(gateway, seen[0][1])
    assert receipt["usage"]["output_tokens"] > 0
    assert receipt["cost_usd"] > 0  # gpt-test has prices: the usage reached the accounting


def _receipt(gw: GatewayThread, rid: str) -> dict[str, Any]:
    """The receipt ``rid`` (written behind the request: polled until it is there)."""
    url, auth = f"{gw.url}/api/receipts/{rid}", {"authorization": f"Bearer {MASTER_KEY}"}
    r = httpx.get(url, headers=auth)
    for _ in range(50):
        if r.status_code == 200:
            break
        time.sleep(0.1)
        r = httpx.get(url, headers=auth)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


# ---- the units ------------------------------------------------------------------------------------------


def test_which_answers_count_as_whole() -> None:
    json_ct = {"content-type": "application/json; charset=utf-8"}
    assert is_whole_answer(OpenAIAdapter(), json_ct)
    assert is_whole_answer(AnthropicAdapter(), {"content-type": "Application/JSON"})
    assert not is_whole_answer(OpenAIAdapter(), {"content-type": "text/event-stream"})
    assert not is_whole_answer(OpenAIAdapter(), {})
    # Gemini streams a JSON array as application/json; Ollama streams NDJSON
    assert not is_whole_answer(GeminiAdapter(), json_ct)
    assert not is_whole_answer(OllamaAdapter(), json_ct)


def test_a_broken_whole_answer_is_an_upstream_error() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [ContentPart("text", "hi")])], stream=True)
    with pytest.raises(Exception, match="invalid JSON"):
        as_native_stream(OpenAIAdapter(), req, b'{"choices": [')


def test_the_rendered_stream_is_the_upstream_format() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [ContentPart("text", "hi")])], stream=True)
    body = json.dumps(
        {
            "id": "chatcmpl-up",
            "object": "chat.completion",
            "created": 1,
            "model": "up",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": TEXT}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10},
        }
    ).encode()
    out = as_native_stream(OpenAIAdapter(), req, body)
    events = [json.loads(line[6:]) for line in out.split(b"\n\n") if line.startswith(b"data: {")]
    assert out.rstrip().endswith(b"data: [DONE]")
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]) == TEXT
    assert events[-1]["usage"]["completion_tokens"] == 7  # rendered even though the client did not ask

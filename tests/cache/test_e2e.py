"""The exact cache end to end: the real app under uvicorn, the official SDKs, the fake OpenAI upstream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from adaptive_gateway.fakes.server import FakeUpstream
from tests.cache.support import ADMIN, CHAT, HTTP, QUESTION, Clock, cache_of, chat, config, stored, text_of
from tests.support.gateway import MASTER_KEY, GatewayThread

MESSAGES = CHAT["messages"]
ZERO = {"temperature": 0}  # this SDK has no temperature parameter; the Messages API still takes one


@pytest.fixture
def gw(fake_openai: FakeUpstream, tmp_path: Path) -> Iterator[GatewayThread]:
    with GatewayThread(config(fake_openai.url), tmp_path) as gateway:
        yield gateway


@pytest.fixture
def oai(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def test_miss_then_hit(gw: GatewayThread, oai: openai.OpenAI, fake_openai: FakeUpstream) -> None:
    first = oai.chat.completions.with_raw_response.create(model="gpt-test", messages=MESSAGES, temperature=0)
    assert first.headers["x-cache"] == "miss"
    assert float(first.headers["x-adaptive-cost-usd"]) > 0
    stored(gw, 1)
    second = oai.chat.completions.with_raw_response.create(model="gpt-test", messages=MESSAGES, temperature=0)
    assert second.headers["x-cache"] == "hit"
    assert second.headers["age"] == "0"
    assert float(second.headers["x-adaptive-cost-usd"]) == 0  # nothing went upstream
    assert "x-adaptive-provider" not in second.headers
    a, b = first.parse(), second.parse()
    assert b.choices[0].message.content == a.choices[0].message.content
    assert (
        b.usage is not None and a.usage is not None and b.usage.completion_tokens == a.usage.completion_tokens
    )
    assert b.id != a.id and b.id.startswith("chatcmpl-req_")
    assert len(fake_openai.received) == 1
    other = oai.chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "something else"}], temperature=0
    )
    assert other.headers["x-cache"] == "miss" and len(fake_openai.received) == 2


def test_stream_replay_parsed_by_the_openai_sdk(
    gw: GatewayThread, oai: openai.OpenAI, fake_openai: FakeUpstream
) -> None:
    answer = oai.chat.completions.create(model="gpt-test", messages=MESSAGES, temperature=0)
    stored(gw, 1)
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-test",
        messages=MESSAGES,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["x-cache"] == "hit"
    chunks = list(raw.parse())
    assert chunks[0].choices[0].delta.role == "assistant"
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == answer.choices[0].message.content
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert answer.usage is not None and chunks[-1].usage.completion_tokens == answer.usage.completion_tokens
    assert len(fake_openai.received) == 1


def test_a_streamed_answer_is_stored_and_served_to_both_kinds(
    gw: GatewayThread, oai: openai.OpenAI, fake_openai: FakeUpstream
) -> None:
    # same client and upstream format: the upstream's bytes pass through, captured on the side
    streamed = oai.chat.completions.create(model="gpt-test", messages=MESSAGES, temperature=0, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    stored(gw, 1)
    again = oai.chat.completions.with_raw_response.create(model="gpt-test", messages=MESSAGES, temperature=0)
    assert again.headers["x-cache"] == "hit" and again.parse().choices[0].message.content == text
    replay = oai.chat.completions.create(model="gpt-test", messages=MESSAGES, temperature=0, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in replay if c.choices) == text
    assert len(fake_openai.received) == 1


def test_stream_replay_parsed_by_the_anthropic_sdk(gw: GatewayThread, fake_openai: FakeUpstream) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key=MASTER_KEY, max_retries=0)
    body = {"model": "gpt-test", "max_tokens": 64, "messages": [{"role": "user", "content": QUESTION}]}
    first = client.messages.with_raw_response.create(**body, extra_body=ZERO)  # type: ignore[call-overload]
    assert first.headers["x-cache"] == "miss"
    message = first.parse()
    stored(gw, 1)
    with client.messages.stream(**body, extra_body=ZERO) as stream:  # type: ignore[arg-type]
        assert stream.response.headers["x-cache"] == "hit"
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == message.content[0].text  # type: ignore[union-attr]
    assert final.content[0].text == message.content[0].text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == message.usage.output_tokens > 0
    assert len(fake_openai.received) == 1


def test_an_anthropic_stream_is_stored_after_translation(
    gw: GatewayThread, fake_openai: FakeUpstream
) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key=MASTER_KEY, max_retries=0)
    body = {"model": "gpt-test", "max_tokens": 64, "messages": [{"role": "user", "content": QUESTION}]}
    with client.messages.stream(**body, extra_body=ZERO) as stream:  # type: ignore[arg-type]
        assert stream.response.headers["x-cache"] == "miss"
        text = stream.get_final_text()
    stored(gw, 1)
    hit = client.messages.with_raw_response.create(**body, extra_body=ZERO)  # type: ignore[call-overload]
    assert hit.headers["x-cache"] == "hit" and hit.parse().content[0].text == text  # type: ignore[union-attr]
    assert len(fake_openai.received) == 1


def test_expiry_follows_the_clock(gw: GatewayThread, fake_openai: FakeUpstream) -> None:
    clock = Clock()
    cache_of(gw).clock = clock
    assert chat(gw).headers["x-cache"] == "miss"
    stored(gw, 1)
    clock.now += 3599
    hit = chat(gw)
    assert hit.headers["x-cache"] == "hit" and hit.headers["age"] == "3599"
    clock.now += 2  # past the default 60 minutes
    assert chat(gw).headers["x-cache"] == "miss"
    assert len(fake_openai.received) == 2
    # a per-request TTL
    assert (
        chat(gw, headers={"x-cache-ttl": "10"}, messages=[{"role": "user", "content": "short"}]).headers[
            "x-cache"
        ]
        == "miss"
    )
    stored(gw, 3)
    clock.now += 9
    assert chat(gw, messages=[{"role": "user", "content": "short"}]).headers["x-cache"] == "hit"
    clock.now += 2
    assert chat(gw, messages=[{"role": "user", "content": "short"}]).headers["x-cache"] == "miss"


def test_request_controls(gw: GatewayThread, fake_openai: FakeUpstream) -> None:
    cache = cache_of(gw)
    bypass = chat(gw, headers={"cache-control": "no-cache"})
    assert bypass.headers["x-cache"] == "bypass"
    assert chat(gw, headers={"cache-control": "no-store"}).headers["x-cache"] == "miss"
    assert chat(gw).headers["x-cache"] == "miss"  # neither of the two was stored
    stored(gw, 1)
    assert cache.stats.stored == 1
    assert chat(gw).headers["x-cache"] == "hit"
    assert (
        chat(gw, headers={"cache-control": "no-store"}).headers["x-cache"] == "hit"
    )  # looked up all the same
    fake_openai.knobs.text = "a fresher answer"
    refreshed = chat(gw, headers={"x-cache-refresh": "1"})
    assert refreshed.headers["x-cache"] == "miss" and text_of(refreshed) == "a fresher answer"
    stored(gw, 2)
    assert text_of(chat(gw)) == "a fresher answer"
    assert len(fake_openai.received) == 4
    bad = chat(gw, headers={"x-cache-ttl": "tomorrow"})
    assert bad.status_code == 400 and "x-cache-ttl" in bad.json()["error"]["message"]
    too_long = chat(gw, headers={"x-cache-ttl": "999999"})
    assert too_long.status_code == 400 and "max_ttl_seconds" in too_long.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        ({"temperature": 0.9}, {}, "temperature 0.9 above cache.max_temperature 0.7"),
        ({"temperature": None}, {}, "no temperature set"),
        ({"n": 2}, {}, "n=2"),
        (
            {
                "tools": [
                    {"type": "function", "function": {"name": "send_email", "parameters": {"type": "object"}}}
                ]
            },
            {},
            "request offers tools",
        ),
        (
            {},
            {"x-trust-level": "confidential"},
            "trust level confidential above cache.local_max_trust internal",
        ),
    ],
)
def test_never_cached(
    gw: GatewayThread,
    fake_openai: FakeUpstream,
    body: dict[str, object],
    headers: dict[str, str],
    reason: str,
) -> None:
    payload = {k: v for k, v in {**CHAT, **body}.items() if v is not None}
    for _ in range(2):
        resp = HTTP.post(gw.url + "/v1/chat/completions", headers={**ADMIN, **headers}, json=payload)
        assert resp.status_code == 200, resp.text
        assert resp.headers["x-cache"] == "bypass"
    assert len(fake_openai.received) == 2
    assert cache_of(gw).stats.stored == 0
    receipt = HTTP.get(gw.url + "/api/receipts/" + resp.headers["x-adaptive-receipt"], headers=ADMIN).json()
    assert receipt["cache"]["status"] == "bypass" and reason in receipt["cache"]["reason"]


def test_policy_may_allow_tools_and_confidential_in_process(
    fake_openai: FakeUpstream, tmp_path: Path
) -> None:
    cache = "{allow_tools: true, local_max_trust: confidential}"
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    with GatewayThread(config(fake_openai.url, cache=cache), tmp_path) as gw:
        for body, headers in (({"tools": tools}, {}), ({}, {"x-trust-level": "confidential"})):
            assert chat(gw, headers=headers, **body).headers["x-cache"] == "miss"
            stored(gw, 1 if "tools" in body else 2)
            assert chat(gw, headers=headers, **body).headers["x-cache"] == "hit"
        entries = HTTP.get(gw.url + "/api/cache", headers=ADMIN).json()["data"]
        assert sorted(e["level"] for e in entries) == ["confidential", "public"]
        stronger = chat(gw, headers={"x-trust-level": "secret"})
        assert stronger.headers["x-cache"] == "bypass"

"""Redaction round trips: the upstream sees placeholders (or masks), the client sees its own values.

The fakes echo the last user message, so whatever the upstream received comes back in the answer:
the client must get the original text back, streamed or not, in its own wire format, while the
fake's received body holds only placeholders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.anthropic_gw import two_upstreams_config
from tests.support.gateway import MASTER_HASH, MASTER_KEY, GatewayThread
from tests.trust.pipeline_support import EMAIL, OPENAI_KEY, PHONE

REDACT = "trust: {actions: {confidential: redact, secret: redact}}"
PROMPT = f"write to {EMAIL} or call {PHONE}; never share {OPENAI_KEY}"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    oai = FakeUpstream("openai", Knobs(echo=True)).start_in_thread()
    claude = FakeUpstream("anthropic", Knobs(echo=True)).start_in_thread()
    try:
        yield oai, claude
    finally:
        oai.stop_thread()
        claude.stop_thread()


def _gateway(fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path, trust: str = REDACT) -> GatewayThread:
    return GatewayThread(two_upstreams_config(fakes[0].url, fakes[1].url, trust), tmp_path)


def _sent(fake: FakeUpstream) -> str:
    return json.dumps(fake.received[-1].json)


def _assert_placeholders_only(sent: str) -> None:
    for value in (EMAIL, PHONE, OPENAI_KEY):
        assert value not in sent
    assert "[[EMAIL_1]]" in sent and "[[PHONE_1]]" in sent and "[[OPENAI_KEY_1]]" in sent


def test_openai_round_trip_non_streamed_and_streamed(
    fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path
) -> None:
    with _gateway(fakes, tmp_path) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)
        messages = [
            {"role": "system", "content": f"the user is {EMAIL}"},
            {"role": "user", "content": PROMPT},
        ]
        resp = client.chat.completions.create(model="gpt-test", messages=messages)  # type: ignore[arg-type]
        assert resp.choices[0].message.content == PROMPT
        sent = _sent(fakes[0])
        _assert_placeholders_only(sent)
        assert sent.count("[[EMAIL_1]]") == 2  # one value, one placeholder, in every message
        stream = client.chat.completions.create(model="gpt-test", messages=messages, stream=True)  # type: ignore[arg-type]
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == PROMPT
        _assert_placeholders_only(_sent(fakes[0]))


def test_anthropic_passthrough_round_trip(fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path) -> None:
    with _gateway(fakes, tmp_path) as gw:
        client = anthropic.Anthropic(base_url=gw.url, api_key=MASTER_KEY, max_retries=0)
        kwargs = {"model": "claude-native", "max_tokens": 200, "system": f"user: {EMAIL}"}
        msg = client.messages.create(messages=[{"role": "user", "content": PROMPT}], **kwargs)  # type: ignore[arg-type]
        assert "".join(b.text for b in msg.content if b.type == "text") == PROMPT
        sent = _sent(fakes[1])
        _assert_placeholders_only(sent)
        assert EMAIL not in json.dumps(fakes[1].received[-1].json["system"])
        with client.messages.stream(messages=[{"role": "user", "content": PROMPT}], **kwargs) as stream:  # type: ignore[arg-type]
            assert "".join(stream.text_stream) == PROMPT
        _assert_placeholders_only(_sent(fakes[1]))


def test_anthropic_client_to_openai_upstream(
    fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path
) -> None:
    with _gateway(fakes, tmp_path) as gw:
        client = anthropic.Anthropic(base_url=gw.url, api_key=MASTER_KEY, max_retries=0)
        msg = client.messages.create(
            model="gpt-test", max_tokens=200, messages=[{"role": "user", "content": PROMPT}]
        )
        assert "".join(b.text for b in msg.content if b.type == "text") == PROMPT
        _assert_placeholders_only(_sent(fakes[0]))


def test_mask_mode_is_not_reversible(fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path) -> None:
    trust = "trust: {actions: {confidential: redact}, redact_mode: mask}"
    with _gateway(fakes, tmp_path, trust) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)
        resp = client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": f"mail {EMAIL} now"}]
        )
        assert resp.choices[0].message.content == "mail [REDACTED_EMAIL] now"
        assert EMAIL not in _sent(fakes[0])


def test_redaction_of_secrets_leaves_the_header_level(
    fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path
) -> None:
    """Redaction removes what the detectors found, not what the caller declared: a request the caller
    marked confidential stays confidential after redaction, so the hosted upstream may not take it."""
    with _gateway(fakes, tmp_path) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)
        with pytest.raises(openai.PermissionDeniedError) as info:
            client.chat.completions.create(
                model="gpt-test",
                messages=[{"role": "user", "content": f"key {OPENAI_KEY}"}],
                extra_headers={
                    "x-trust-level": "confidential",
                    "x-context-sources": "memory:hr=confidential",
                },
            )
        assert OPENAI_KEY not in info.value.message
        assert not fakes[0].received


def test_gemini_and_responses_round_trip(tmp_path: Path) -> None:
    fake = FakeUpstream("gemini", Knobs(echo=True)).start_in_thread()
    config = f"""
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false}}
providers:
  g: {{kind: gemini, base_url: "{fake.url}", api_key: "k"}}
models:
  gem: {{deployments: [{{provider: g, model: gemini-2.5-flash}}]}}
{REDACT}
"""
    try:
        with GatewayThread(config, tmp_path) as gw:
            body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
            key = {"x-goog-api-key": MASTER_KEY}
            plain = httpx.post(gw.url + "/v1beta/models/gem:generateContent", json=body, headers=key)
            assert plain.json()["candidates"][0]["content"]["parts"][0]["text"] == PROMPT
            _assert_placeholders_only(_sent(fake))
            url = gw.url + "/v1beta/models/gem:streamGenerateContent?alt=sse"
            streamed = httpx.post(url, json=body, headers=key).text
            chunks = [json.loads(line[6:]) for line in streamed.splitlines() if line.startswith("data: ")]
            parts = [p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"]]
            assert "".join(parts) == PROMPT
            responses = httpx.post(
                gw.url + "/v1/responses",
                json={"model": "gem", "input": PROMPT},
                headers={"authorization": f"Bearer {MASTER_KEY}"},
            ).json()
            assert responses["output"][0]["content"][0]["text"] == PROMPT
            _assert_placeholders_only(_sent(fake))
    finally:
        fake.stop_thread()

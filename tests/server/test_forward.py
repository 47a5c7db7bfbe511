"""/v1/completions and /v1/embeddings fail over across a model's OpenAI-compatible deployments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_HASH, MASTER_KEY, GatewayThread, free_port


@pytest.fixture
def second() -> Iterator[FakeUpstream]:
    fake = FakeUpstream("openai").start_in_thread()
    try:
        yield fake
    finally:
        fake.stop_thread()


def config(first_url: str, second_url: str) -> str:
    return f"""
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false, reload_poll_seconds: 0}}
providers:
  a: {{kind: openai-compatible, base_url: "{first_url}/v1", timeouts: {{connect: 1, read: 3, total: 5}}}}
  b: {{kind: openai-compatible, base_url: "{second_url}/v1"}}
models:
  m:
    strategy: round-robin
    deployments: [{{provider: a, model: a-model}}, {{provider: b, model: b-model}}]
"""


@pytest.mark.parametrize("first", ["down", "500"])
def test_completions_and_embeddings_fail_over(
    fake_openai: FakeUpstream, second: FakeUpstream, tmp_path: Path, first: str
) -> None:
    first_url = f"http://127.0.0.1:{free_port()}" if first == "down" else fake_openai.url
    fake_openai.knobs = Knobs(status=500)
    with GatewayThread(config(first_url, second.url), tmp_path) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)
        for _ in range(4):  # whichever deployment is tried first, every request is answered
            raw = client.completions.with_raw_response.create(model="m", prompt="hi")
            assert raw.parse().choices[0].text
            assert raw.headers["x-adaptive-provider"] == "b"
            emb = client.embeddings.with_raw_response.create(model="m", input="hi")
            assert len(emb.parse().data) == 1 and emb.headers["x-adaptive-provider"] == "b"
    assert all(r.json["model"] == "b-model" for r in second.received)


def test_last_upstream_error_status_is_kept(
    fake_openai: FakeUpstream, second: FakeUpstream, tmp_path: Path
) -> None:
    fake_openai.knobs = Knobs(status=429, retry_after=3)
    second.knobs = Knobs(status=429, retry_after=3)
    with GatewayThread(config(fake_openai.url, second.url), tmp_path) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)
        with pytest.raises(openai.RateLimitError) as info:
            client.embeddings.create(model="m", input="hi")
        assert info.value.response.headers["retry-after"] == "3"

"""The built-in local model through the gateway: chat (JSON and SSE) on the bundled SmolLM2 child and
local/minilm-l6 embeddings in process. Real model, so the assertions are about formats, not facts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.gateway import MASTER_HASH, MASTER_KEY, GatewayThread

CONFIG = f"""
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false, reload_poll_seconds: 0}}
providers:
  builtin: {{kind: embedded, runtime: {{parallel: 2, max_tokens: 20}}}}
models:
  local/smollm2-135m: {{deployments: [{{provider: builtin, model: local/smollm2-135m}}]}}
  local/minilm-l6: {{deployments: [{{provider: builtin, model: local/minilm-l6}}]}}
"""


@pytest.fixture(scope="module")
def local_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    with GatewayThread(CONFIG, Path(tmp_path_factory.mktemp("embedded"))) as gw:
        yield gw


@pytest.fixture
def client(local_gateway: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=local_gateway.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def test_chat_on_builtin_model(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="local/smollm2-135m",
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=12,
        temperature=0,
    )
    resp = raw.parse()
    assert resp.choices[0].message.content
    assert resp.usage is not None and resp.usage.completion_tokens > 0
    assert raw.headers["x-adaptive-provider"] == "builtin"
    assert float(raw.headers["x-adaptive-cost-usd"]) == 0.0
    assert resp.model == "local/smollm2-135m", "the model's public name, not the provider's"


def test_stream_on_builtin_model(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="local/smollm2-135m",
            messages=[{"role": "user", "content": "Count to three."}],
            max_tokens=10,
            stream=True,
            stream_options={"include_usage": True},
            temperature=0,
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize(("asked", "generated"), [(None, 20), (30, 30)])
def test_runtime_max_tokens_is_the_default(client: openai.OpenAI, asked: int | None, generated: int) -> None:
    """Without it llama.cpp generates until end of text or a full context (minutes on a busy machine);
    a request's own max_tokens wins."""
    resp = client.chat.completions.create(
        model="local/smollm2-135m",
        messages=[{"role": "user", "content": "Write a long story about a dragon who learns to fly."}],
        temperature=0,
        **({"max_tokens": asked} if asked else {}),
    )
    assert resp.usage is not None and resp.usage.completion_tokens == generated
    assert resp.choices[0].finish_reason == "length"


def test_child_is_not_reachable_without_the_gateway(
    local_gateway: GatewayThread, client: openai.OpenAI
) -> None:
    client.chat.completions.create(
        model="local/smollm2-135m", messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    ready = httpx.get(local_gateway.url + "/health/ready", headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert ready.json()["checks"]["embedded"]["ok"] is True
    runtimes = local_gateway.app.extras["embedded"]
    base = runtimes.info()[0]["base_url"]  # type: ignore[attr-defined]
    assert httpx.get(base + "/models").status_code == 401  # the child requires the gateway's derived key


def test_local_embeddings(client: openai.OpenAI) -> None:
    resp = client.embeddings.create(
        model="local/minilm-l6", input=["the cat sat", "a cat was sitting", "tax law"]
    )
    vecs = [d.embedding for d in resp.data]
    assert [len(v) for v in vecs] == [384, 384, 384]
    dot = [sum(a * b for a, b in zip(vecs[0], v, strict=True)) for v in vecs]
    assert dot[1] > dot[2]  # a paraphrase is closer than an unrelated text
    assert resp.usage.prompt_tokens > 0


def test_chat_on_the_embeddings_model_is_refused_in_each_clients_format(
    client: openai.OpenAI, local_gateway: GatewayThread
) -> None:
    """The llama.cpp child would answer with its chat model under the embeddings model's name."""
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="local/minilm-l6", messages=[{"role": "user", "content": "hi"}])
    err = caught.value
    assert err.status_code == 400 and err.param == "model"
    assert "embeddings model" in err.message and "/v1/embeddings" in err.message
    anthropic_style = httpx.post(
        local_gateway.url + "/v1/messages",
        headers={"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"},
        json={"model": "local/minilm-l6", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert anthropic_style.status_code == 400, anthropic_style.text
    body = anthropic_style.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "embeddings model" in body["error"]["message"]


def test_embeddings_of_the_chat_model_are_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="local/smollm2-135m", input="hello")
    assert caught.value.param == "model" and "local/minilm-l6" in caught.value.message

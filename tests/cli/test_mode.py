"""`mode offline | online | status`: the CLI edits the config (comments kept), the running gateway reloads
it, and offline only local providers are used (through HTTP, with the official OpenAI SDK)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from typer.testing import CliRunner

from adaptive_gateway.cli.main import build_app
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_HASH, MASTER_KEY, GatewayThread


def _config(cloud: str, box: str) -> str:
    return f"""\
# my gateway, hand-tuned
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false, reload_poll_seconds: 0.1}}
providers:
  cloud: {{kind: openai-compatible, base_url: "{cloud}/v1", api_key: "sk-upstream"}}   # hosted
  box: {{kind: ollama, base_url: "{box}"}}   # local by its preset
  box-oa: {{kind: ollama-openai, base_url: "{box}/v1"}}
models:
  cloud-chat:
    deployments: [{{provider: cloud, model: gpt-4o-mini}}]
  local-chat:
    deployments: [{{provider: box, model: "llama3.2:latest"}}]
  mixed:
    deployments:
      - {{provider: cloud, model: gpt-4o-mini}}
      - {{provider: box, model: "qwen3:8b"}}
  cloud-embed:
    deployments: [{{provider: cloud, model: text-embedding-3-small}}]
  embed-mixed:
    deployments:
      - {{provider: cloud, model: text-embedding-3-small}}
      - {{provider: box-oa, model: "nomic-embed-text:latest"}}
"""


@pytest.fixture
def fake_ollama() -> Iterator[FakeUpstream]:
    fake = FakeUpstream("ollama").start_in_thread()
    try:
        yield fake
    finally:
        fake.stop_thread()


@pytest.fixture
def gateway(tmp_path: Path, fake_openai: FakeUpstream, fake_ollama: FakeUpstream) -> Iterator[GatewayThread]:
    with GatewayThread(_config(fake_openai.url, fake_ollama.url), tmp_path) as gw:
        yield gw


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), list(args))
    return result.exit_code, result.stdout, result.stderr


def _wait_for_mode(gw: GatewayThread, wanted: str) -> None:
    deadline = time.monotonic() + 10
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    while time.monotonic() < deadline:
        detail = httpx.get(f"{gw.url}/health/ready", headers=headers).json()["checks"]["mode"]["detail"]
        if detail.startswith(wanted):
            return
        time.sleep(0.05)
    raise AssertionError(f"the gateway did not switch to {wanted}")


def _chat(client: openai.OpenAI, model: str, stream: bool = False) -> str:
    messages = [{"role": "user", "content": "hello"}]
    if stream:
        chunks = client.chat.completions.create(model=model, messages=messages, stream=True)  # type: ignore[arg-type]
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    resp = client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
    return resp.choices[0].message.content or ""


def test_offline_uses_only_local_providers_and_online_restores(
    gateway: GatewayThread, fake_openai: FakeUpstream, fake_ollama: FakeUpstream
) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER_KEY, max_retries=0)
    path = gateway.config_path
    original = path.read_text()
    assert _chat(client, "cloud-chat")

    code, _, err = _cli("mode", "offline", "--config", str(path))
    assert code == 0, err
    assert "now offline" in err
    assert path.read_text() == original + "mode: offline\n"  # comments and flow style kept
    _wait_for_mode(gateway, "offline")

    cloud_calls = len(fake_openai.received)
    for stream in (False, True):
        with pytest.raises(openai.PermissionDeniedError) as info:
            _chat(client, "cloud-chat", stream)
        assert info.value.code == "offline_mode"
        message = str(info.value)
        assert (
            "offline mode" in message
            and "embed-mixed, local-chat, mixed" in message
            and "mode online" in message
        )
    assert _chat(client, "local-chat") and _chat(client, "local-chat", stream=True)
    for _ in range(5):  # the hosted deployment of a mixed model is never tried
        assert _chat(client, "mixed")
    with pytest.raises(openai.PermissionDeniedError):
        client.embeddings.create(model="cloud-embed", input="secret text")
    assert client.embeddings.create(model="embed-mixed", input="secret text").data  # the local one
    assert len(fake_openai.received) == cloud_calls
    chats = [r for r in fake_ollama.received if r.path == "/api/chat"]  # (not the health probes)
    assert {r.json["model"] for r in chats} == {"llama3.2:latest", "qwen3:8b"}
    embeds = [r for r in fake_ollama.received if r.path == "/v1/embeddings"]
    assert [r.json["model"] for r in embeds] == ["nomic-embed-text:latest"]

    code, out, _ = _cli("mode", "status", "--config", str(path), "--json")
    status = json.loads(out)
    assert code == 0 and status["mode"] == "offline"
    assert status["local_models"] == ["embed-mixed", "local-chat", "mixed"]
    assert status["hosted_only_models"] == ["cloud-chat", "cloud-embed"]

    code, _, err = _cli("mode", "online", "--config", str(path))
    assert code == 0, err
    assert path.read_text() == original + "mode: online\n"
    _wait_for_mode(gateway, "online")
    assert _chat(client, "cloud-chat")


def test_mode_refuses_without_a_config_or_with_an_invalid_one(tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    assert _cli("mode", "offline", "--config", str(missing))[0] == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("providers:\n  x: {kind: nope}\n")
    code, _, err = _cli("mode", "offline", "--config", str(broken))
    assert code == 1 and "providers.x.kind: unknown provider kind 'nope'" in err
    assert broken.read_text() == "providers:\n  x: {kind: nope}\n"

"""Auth modes and the open-route allow-list, through HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_KEY, GatewayThread, openai_config

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Basic {MASTER_KEY}"},
        {"x-api-key": "nope"},
    ],
)
def test_gateway_mode_rejects_missing_or_bad_keys(
    gateway: GatewayThread, fake_openai: FakeUpstream, headers: dict[str, str]
) -> None:
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=BODY, headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "authentication_error"
    assert not fake_openai.received


@pytest.mark.parametrize("header", ["Authorization", "x-api-key"])
def test_gateway_mode_accepts_master_key(gateway: GatewayThread, header: str) -> None:
    value = f"Bearer {MASTER_KEY}" if header == "Authorization" else MASTER_KEY
    assert (
        httpx.post(gateway.url + "/v1/chat/completions", json=BODY, headers={header: value}).status_code
        == 200
    )


def test_every_route_but_the_allow_list_needs_a_key(gateway: GatewayThread) -> None:
    assert httpx.get(gateway.url + "/health").status_code == 200
    assert httpx.get(gateway.url + "/health/live").status_code == 200
    for path in ("/health/ready", "/v1/models", "/v1/models/gpt-test"):
        assert httpx.get(gateway.url + path).status_code == 401, path
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
        assert httpx.post(gateway.url + path, json={}).status_code == 401, path
    ready = httpx.get(gateway.url + "/health/ready", headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_master_key_from_environment(
    fake_openai: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADAPTIVE_GATEWAY_MASTER_KEY", "sk-from-env-123456")
    with GatewayThread(openai_config(fake_openai.url), tmp_path) as gw:
        ok = httpx.post(
            gw.url + "/v1/chat/completions", json=BODY, headers={"x-api-key": "sk-from-env-123456"}
        )
        assert ok.status_code == 200
        old = httpx.post(gw.url + "/v1/chat/completions", json=BODY, headers={"x-api-key": MASTER_KEY})
        assert old.status_code == 401


def test_passthrough_forwards_the_client_key(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    with GatewayThread(openai_config(fake_openai.url, mode="passthrough"), tmp_path) as gw:
        resp = httpx.post(
            gw.url + "/v1/chat/completions", json=BODY, headers={"Authorization": "Bearer sk-client-own"}
        )
        assert resp.status_code == 200
        assert fake_openai.received[-1].headers["authorization"] == "Bearer sk-client-own"
        assert httpx.post(gw.url + "/v1/chat/completions", json=BODY).status_code == 401


def test_hybrid_requires_gateway_key_and_forwards_provider_key(
    fake_openai: FakeUpstream, tmp_path: Path
) -> None:
    with GatewayThread(openai_config(fake_openai.url, mode="hybrid"), tmp_path) as gw:
        url = gw.url + "/v1/chat/completions"
        assert (
            httpx.post(url, json=BODY, headers={"Authorization": "Bearer sk-client-own"}).status_code == 401
        )
        resp = httpx.post(
            url,
            json=BODY,
            headers={"Authorization": f"Bearer {MASTER_KEY}", "x-provider-key": "sk-client-own"},
        )
        assert resp.status_code == 200
        assert fake_openai.received[-1].headers["authorization"] == "Bearer sk-client-own"
        httpx.post(url, json=BODY, headers={"Authorization": f"Bearer {MASTER_KEY}"})
        assert fake_openai.received[-1].headers["authorization"] == "Bearer sk-upstream-secret"

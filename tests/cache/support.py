"""Configs and helpers for the cache tests: the standard fake-OpenAI setup plus a ``cache:`` section."""

from __future__ import annotations

from typing import Any

import httpx

from adaptive_gateway.cache.service import ResponseCache
from tests.support.gateway import MASTER_HASH, MASTER_KEY, GatewayThread
from tests.support.wait import eventually

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
HTTP = httpx.Client(timeout=10)
QUESTION = "What is the capital of France?"
CHAT: dict[str, Any] = {
    "model": "gpt-test",
    "messages": [{"role": "user", "content": QUESTION}],
    "temperature": 0,
}


def config(upstream: str, *, cache: str = "{}", state: str = "", extra: str = "") -> str:
    """One local OpenAI-compatible fake (``gpt-test``, $1 / $2 per million tokens) and the given cache
    section. ``locality: local`` so that confidential requests may use it (trust's default policy)."""
    return f"""
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false, reload_poll_seconds: 0}}
store: {{flush_interval_seconds: 0.1}}
state: {{key_refresh_seconds: 0.1{state}}}
providers:
  fake: {{kind: openai-compatible, base_url: "{upstream}/v1", api_key: "sk-upstream-secret", locality: local,
         probe: {{enabled: false}},
         timeouts: {{connect: 2, read: 5, total: 10}}}}
models:
  gpt-test:
    deployments: [{{provider: fake, model: upstream-model, input_price: 1.0, output_price: 2.0}}]
cache: {cache}
{extra}
"""


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat(
    gw: GatewayThread, key: str = MASTER_KEY, headers: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    return HTTP.post(
        gw.url + "/v1/chat/completions", headers={**bearer(key), **(headers or {})}, json={**CHAT, **body}
    )


def text_of(resp: httpx.Response) -> str:
    assert resp.status_code == 200, resp.text
    content: str = resp.json()["choices"][0]["message"]["content"]
    return content


def cache_of(gw: GatewayThread) -> ResponseCache:
    cache = gw.app.extras["cache"]
    assert isinstance(cache, ResponseCache)
    return cache


def stored(gw: GatewayThread, n: int) -> None:
    """Wait until ``n`` answers were stored (the store runs after the response is sent)."""
    cache = cache_of(gw)
    assert eventually(lambda: cache.stats.stored >= n), f"stored {cache.stats.stored} of {n}"


def create_key(gw: GatewayThread, **spec: Any) -> str:
    spec.setdefault("name", "cache test key")
    resp = HTTP.post(gw.url + "/api/keys", headers=ADMIN, json=spec)
    assert resp.status_code == 201, resp.text
    key: str = resp.json()["key"]
    return key


def create_tenant(gw: GatewayThread, name: str) -> str:
    resp = HTTP.post(gw.url + "/api/tenants", headers=ADMIN, json={"name": name})
    assert resp.status_code == 201, resp.text
    tenant: str = resp.json()["id"]
    return tenant


class Clock:
    """An injectable wall clock for the cache."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

"""The semantic index shared through Redis by two real gateway processes (separate homes, like separate
machines; the key store and Redis are shared): a paraphrase answered by one is a semantic hit on the
other, never for another tenant, and never once the answer expired. Needs the real Redis on
127.0.0.1:6379 and the MiniLM packages (skipped when absent, a failure under CI=true)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from adaptive_gateway.embedded.availability import missing_embedder_packages
from adaptive_gateway.fakes.server import FakeUpstream
from tests.cache.support import ADMIN, HTTP, bearer, cache_of, chat, config, text_of
from tests.cache.test_semantic import PARAPHRASE, QUESTION, ask, indexed
from tests.store.backends import REDIS_URL, redis_prefix
from tests.support.gateway import GatewayThread
from tests.support.process import GatewayProcess
from tests.support.required import unavailable

__all__ = ["redis_prefix"]  # the fixture
pytestmark = pytest.mark.redis

ANSWER = "Use reversed(items) or items[::-1]."
WATER = "At what temperature does water boil at sea level?"
WATER_PARAPHRASE = "At what temperature does water boil at sea-level?"
CACHE = "{purge_poll_seconds: 0.1, semantic: {models: [gpt-test], sync_seconds: 0.1}}"


@pytest.fixture
def pair(fake_openai: FakeUpstream, tmp_path: Path, redis_prefix: str) -> Iterator[list[GatewayProcess]]:
    missing = missing_embedder_packages()
    if missing:
        unavailable("the MiniLM embedder", f"needs {', '.join(missing)}")
    text = config(
        fake_openai.url, cache=CACHE, state=f', redis_url: "{REDIS_URL}", redis_prefix: "{redis_prefix}"'
    )
    shared_db = tmp_path / "keys.db"
    text = text.replace("store: {", f'store: {{url: "sqlite:///{shared_db}", ', 1)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    procs = [GatewayProcess(path, env={"ADAPTIVE_GATEWAY_HOME": str(tmp_path / f"home-{n}")}) for n in "ab"]
    procs[0].start()  # the first creates the key store, then the second opens it
    try:
        procs[1].start()
        yield procs
    finally:
        for p in procs:
            p.stop()


def post(url: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url + path, headers={**ADMIN, **(headers or {})}, json=body, timeout=30)


def ask_as(url: str, key: str, text: str, **headers: str) -> httpx.Response:
    body = {"model": "gpt-test", "messages": ask(text), "temperature": 0}
    return httpx.post(url + "/v1/chat/completions", headers={**bearer(key), **headers}, json=body, timeout=60)


def vectors(url: str) -> int:
    count: int = httpx.get(url + "/api/cache", headers=ADMIN, timeout=10).json()["semantic"]["vectors"]
    return count


def wait_for(check: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def tenant_key(url: str, name: str) -> str:
    tenant = post(url, "/api/tenants", {"name": name}).json()["id"]
    key: str = post(url, "/api/keys", {"name": name, "tenant_id": tenant}).json()["key"]
    return key


def stream_items(prefix: str) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(client.xlen(prefix + "cache:semantic"))
    finally:
        client.close()


def ready(url: str, key: str) -> None:
    """Wait until ``url`` knows ``key`` (it polls the key store) and has loaded its embedding model (a
    looked-up request that is not stored)."""
    no_store = {"cache-control": "no-store"}
    assert wait_for(lambda: ask_as(url, key, "warm up", **no_store).status_code == 200, timeout=30)


def content(resp: httpx.Response) -> str:
    assert resp.status_code == 200, resp.text
    text: str = resp.json()["choices"][0]["message"]["content"]
    return text


def test_a_paraphrase_answered_by_one_replica_hits_on_the_other(
    pair: list[GatewayProcess], fake_openai: FakeUpstream, redis_prefix: str
) -> None:
    a, b = pair
    key_1, key_2 = tenant_key(a.url, "tenant-1"), tenant_key(a.url, "tenant-2")
    for url in (a.url, b.url):
        ready(url, key_1)
    ready(b.url, key_2)

    fake_openai.knobs.text = ANSWER
    assert ask_as(a.url, key_1, QUESTION).headers["x-cache"] == "miss"
    assert wait_for(lambda: vectors(b.url) == 1), "b did not pull a's vector"
    assert stream_items(redis_prefix) == 1
    fake_openai.knobs.text = "an answer from upstream"
    upstream_calls = len(fake_openai.received)

    from_b = ask_as(b.url, key_1, PARAPHRASE)
    assert from_b.headers["x-cache"] == "semantic" and content(from_b) == ANSWER
    assert len(fake_openai.received) == upstream_calls

    # tenant 2 never gets tenant 1's answer, on either replica
    other = ask_as(b.url, key_2, PARAPHRASE)
    assert other.headers["x-cache"] == "miss" and content(other) == "an answer from upstream"
    assert content(ask_as(a.url, key_2, QUESTION)) == "an answer from upstream"


def test_an_expired_shared_answer_is_not_served(
    pair: list[GatewayProcess], fake_openai: FakeUpstream
) -> None:
    a, b = pair
    key = tenant_key(a.url, "tenant-1")
    for url in (a.url, b.url):
        ready(url, key)
    fake_openai.knobs.text = "100 °C."
    assert ask_as(a.url, key, WATER, **{"x-cache-ttl": "3"}).headers["x-cache"] == "miss"
    stored = time.monotonic()
    assert wait_for(lambda: vectors(b.url) == 1), "b did not pull a's vector"
    live = ask_as(b.url, key, WATER_PARAPHRASE, **{"cache-control": "no-store"})
    assert time.monotonic() - stored < 3, "too slow to see the live hit before it expires"
    assert live.headers["x-cache"] == "semantic" and content(live) == "100 °C."
    time.sleep(max(0.0, 3.2 - (time.monotonic() - stored)))
    fake_openai.knobs.text = "an answer from upstream"
    expired = ask_as(b.url, key, WATER_PARAPHRASE)
    assert expired.headers["x-cache"] == "miss" and content(expired) == "an answer from upstream"


def test_a_replica_down_during_a_purge_applies_it_at_start(
    fake_openai: FakeUpstream, tmp_path: Path, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its disk kept the answer; the purge was made by another replica while it was stopped."""
    if missing_embedder_packages():
        unavailable("the MiniLM embedder")
    text = config(
        fake_openai.url, cache=CACHE, state=f', redis_url: "{REDIS_URL}", redis_prefix: "{redis_prefix}"'
    )

    def replica(name: str) -> GatewayThread:
        monkeypatch.setenv("ADAPTIVE_GATEWAY_HOME", str(tmp_path / f"home-{name}"))
        (tmp_path / name).mkdir(exist_ok=True)
        return GatewayThread(text, tmp_path / name)

    fake_openai.knobs.text = ANSWER
    with replica("a") as a:
        assert chat(a, messages=ask(QUESTION)).headers["x-cache"] == "miss"
        indexed(a, 1)
    with replica("b") as b:
        assert len(cache_of(b).semantic) == 1  # pulled from the stream at start
        purged = HTTP.delete(b.url + "/api/cache", params={"model": "gpt-test"}, headers=ADMIN)
        assert purged.status_code == 200
    fake_openai.knobs.text = "an answer from upstream"
    with replica("a") as a:
        assert cache_of(a).sync.loaded == 1  # the row was on its disk, and the purge removed it
        para = chat(a, messages=ask(PARAPHRASE))
        assert para.headers["x-cache"] == "miss" and text_of(para) == "an answer from upstream"

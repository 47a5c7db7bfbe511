"""``GET /api/cache`` → ``semantic.sync``: the state of the semantic index's copies on disk and in Redis,
as an operator checks it. Rows on disk (seeded, loaded, written), a stream followed (pulled items, the
cursor against the stream's newest id, a replica behind it, a malformed item counted and skipped) and
Redis out of reach; None when there is no copy. The Redis tests need the real Redis on 127.0.0.1:6379
and the one with real requests the MiniLM packages (skipped when absent, a failure under CI=true)."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from adaptive_gateway.cache.entry import Entry
from adaptive_gateway.cache.semantic_store import FILE, SemanticRow, SemanticStore
from adaptive_gateway.config import gateway_home
from adaptive_gateway.embedded.availability import missing_embedder_packages
from adaptive_gateway.fakes.server import FakeUpstream
from tests.cache.support import ADMIN, HTTP, cache_of, chat, config, eventually
from tests.cache.test_semantic import QUESTION, ask, indexed
from tests.store.backends import REDIS_URL, redis_prefix
from tests.support.gateway import GatewayThread
from tests.support.required import unavailable

__all__ = ["redis_prefix"]  # the fixture

DIMS = 384


def semantic(gw: GatewayThread) -> dict[str, Any]:
    resp = HTTP.get(gw.url + "/api/cache", headers=ADMIN)
    assert resp.status_code == 200, resp.text
    section: dict[str, Any] = resp.json()["semantic"]
    return section


def sync_of(gw: GatewayThread) -> dict[str, Any]:
    state: dict[str, Any] = semantic(gw)["sync"]
    assert state is not None
    return state


def unit_vector(seed: int) -> bytes:
    v = np.random.default_rng(seed).standard_normal(DIMS).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32).tobytes()


def seed_disk(rows: list[tuple[str, float]]) -> None:
    """Rows (key, expiry) in the gateway home's semantic store, as an earlier run left them."""

    async def write() -> None:
        store = SemanticStore(gateway_home() / FILE, 100, time.time)
        for i, (key, expires) in enumerate(rows):
            row = SemanticRow(key, "bucket", "gpt-test", "key:master", unit_vector(i), time.time(), expires)
            store.add(row, Entry(key, "gpt-test", "key:master", b"{}", row.created, expires, 0.0).to_bytes())
        await store.close()  # flushes

    asyncio.run(write())


def test_no_sync_state_without_a_copy_to_keep(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    with GatewayThread(config(fake_openai.url), tmp_path) as gw:  # semantic caching off
        section = semantic(gw)
        assert section["enabled"] is False and section["vectors"] == 0 and section["sync"] is None
    memory_only = config(fake_openai.url, cache="{semantic: {models: [gpt-test], persist: false}}")
    with GatewayThread(memory_only, tmp_path) as gw:  # an index, but neither on disk nor shared
        assert semantic(gw)["sync"] is None


def test_disk_state_and_an_unreachable_stream(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    now = time.time()
    seed_disk([("k1", now + 3600), ("k2", now + 3600), ("gone", now - 1)])
    cache = "{semantic: {models: [gpt-test], sync_seconds: 0.05}}"
    with GatewayThread(config(fake_openai.url, cache=cache), tmp_path) as gw:
        sync = sync_of(gw)
        assert sync["ready"] is True and sync["sync_seconds"] == 0.05
        assert sync["errors"] == 0 and sync["last_error"] is None and sync["last_error_age_s"] is None
        assert sync["redis"] is None  # no Redis configured: not shared
        assert sync["disk"] == {
            "path": str(gateway_home() / FILE),
            "vectors": 2,  # the expired row was dropped when loading
            "loaded": 2,
            "queued": 0,
            "purge_cursor": None,
            "errors": 0,
            "last_error": None,
        }
        assert semantic(gw)["vectors"] == 2

    unreachable = config(fake_openai.url, cache=cache, state=', redis_url: "redis://127.0.0.1:1/0"')
    with GatewayThread(unreachable, tmp_path) as gw:
        sync = sync_of(gw)
        assert sync["ready"] is True and sync["errors"] >= 1  # at start already
        assert sync["last_error"].startswith("semantic stream: ") and sync["last_error_age_s"] >= 0
        first = sync["errors"]
        assert sync["redis"] == {
            "stream": "agw:cache:semantic",
            "items": None,
            "head": None,
            "cursor": "0-0",
            "behind": None,
            "pulled": 0,
            "published": 0,
            "last_pull_age_s": None,  # never reached Redis
        }
        assert sync["disk"]["vectors"] == 2 and sync["disk"]["loaded"] == 2  # the disk still serves
        assert eventually(lambda: sync_of(gw)["errors"] > first)  # every follow pass fails and says so


def stream_record(key: str, origin: str, seed: int) -> bytes:
    now = time.time()
    head = json.dumps([key, "bucket", "gpt-test", "key:master", now, now + 3600, origin]).encode()
    return head + b"\n" + unit_vector(seed)


def xadd(stream: str, record: bytes) -> str:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return str(client.xadd(stream, {"r": record}).decode())
    finally:
        client.close()


@pytest.mark.redis
def test_a_followed_stream_and_a_malformed_item(
    fake_openai: FakeUpstream, tmp_path: Path, redis_prefix: str
) -> None:
    text = config(
        fake_openai.url,
        cache="{semantic: {models: [gpt-test], sync_seconds: 0.05}}",
        state=f', redis_url: "{REDIS_URL}", redis_prefix: "{redis_prefix}"',
    )
    stream = redis_prefix + "cache:semantic"
    with GatewayThread(text, tmp_path) as gw:
        sync = sync_of(gw)
        assert sync["errors"] == 0 and sync["last_error"] is None
        assert sync["redis"]["stream"] == stream
        assert sync["redis"]["items"] == 0 and sync["redis"]["head"] == "0-0"
        assert sync["redis"]["cursor"] == "0-0" and sync["redis"]["behind"] is False
        assert sync["redis"]["last_pull_age_s"] is not None and sync["disk"]["purge_cursor"] == "0-0"

        ident = xadd(stream, stream_record("from-another-replica", "other", 1))
        assert eventually(lambda: sync_of(gw)["redis"]["pulled"] == 1)
        sync = sync_of(gw)
        assert sync["redis"]["cursor"] == sync["redis"]["head"] == ident and sync["redis"]["behind"] is False
        assert sync["redis"]["items"] == 1 and sync["redis"]["last_pull_age_s"] < 5
        assert sync["disk"]["vectors"] == 0  # rows pulled from others are not written to this disk
        assert semantic(gw)["vectors"] == 1

        bad = xadd(stream, b"not a header\n")
        assert eventually(lambda: sync_of(gw)["errors"] == 1)
        time.sleep(0.3)  # several more passes: the bad item was skipped, not retried
        sync = sync_of(gw)
        assert sync["errors"] == 1 and sync["last_error"].startswith("semantic stream: ")
        assert sync["redis"]["cursor"] == sync["redis"]["head"] == bad and sync["redis"]["behind"] is False
        assert sync["redis"]["pulled"] == 1 and sync["redis"]["items"] == 2


@pytest.mark.redis
def test_a_replica_behind_the_stream_catches_up_at_start(
    fake_openai: FakeUpstream, tmp_path: Path, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replica a answers and publishes; replica b (separate home, pulling only at start here) shows it is
    behind the stream until it restarts."""
    missing = missing_embedder_packages()
    if missing:
        unavailable("the MiniLM embedder", f"needs {', '.join(missing)}")
    state = f', redis_url: "{REDIS_URL}", redis_prefix: "{redis_prefix}"'

    def replica(name: str, sync_seconds: float) -> GatewayThread:
        cache = f"{{semantic: {{models: [gpt-test], sync_seconds: {sync_seconds}}}}}"
        monkeypatch.setenv("ADAPTIVE_GATEWAY_HOME", str(tmp_path / f"home-{name}"))
        (tmp_path / name).mkdir(exist_ok=True)
        return GatewayThread(config(fake_openai.url, cache=cache, state=state), tmp_path / name)

    fake_openai.knobs.text = "Use reversed(items) or items[::-1]."
    with ExitStack() as stack:
        a = stack.enter_context(replica("a", 0.05))
        b = stack.enter_context(replica("b", 60))
        assert chat(a, messages=ask(QUESTION)).headers["x-cache"] == "miss"
        indexed(a, 1)
        assert eventually(lambda: sync_of(a)["disk"]["vectors"] == 1)  # flushed behind
        assert eventually(lambda: sync_of(a)["redis"]["cursor"] == sync_of(a)["redis"]["head"] != "0-0")
        sync = sync_of(a)
        assert sync["disk"]["queued"] == 1 and sync["errors"] == 0
        assert sync["redis"]["published"] == 1 and sync["redis"]["pulled"] == 0  # its own item, skipped
        assert sync["redis"]["items"] == 1 and sync["redis"]["behind"] is False
        head = sync["redis"]["head"]

        behind = sync_of(b)["redis"]
        assert behind["head"] == head and behind["cursor"] == "0-0" and behind["behind"] is True
        assert behind["pulled"] == 0 and len(cache_of(b).semantic) == 0
    with replica("b", 60) as b:  # a restart reads the whole stream
        sync = sync_of(b)
        assert sync["redis"]["pulled"] == 1 and sync["redis"]["cursor"] == head
        assert sync["redis"]["behind"] is False and sync["disk"]["vectors"] == 0

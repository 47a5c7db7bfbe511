"""The Redis tier: two gateways (separate apps and event loops) on the same Redis share entries and
purges; what may only be kept in process never reaches Redis; Redis trouble is a miss, never an error.
Needs the real Redis on 127.0.0.1:6379 (skipped when absent, a failure under CI=true)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis

from adaptive_gateway.fakes.server import FakeUpstream
from tests.cache.support import ADMIN, HTTP, cache_of, chat, config, eventually, stored, text_of
from tests.store.backends import REDIS_URL, redis_prefix
from tests.support.gateway import GatewayThread

__all__ = ["redis_prefix"]  # the fixture


def shared_config(upstream: str, prefix: str, cache: str = "{purge_poll_seconds: 0.05}") -> str:
    return config(upstream, cache=cache, state=f', redis_url: "{REDIS_URL}", redis_prefix: "{prefix}"')


@pytest.fixture
def pair(
    fake_openai: FakeUpstream, tmp_path: Path, redis_prefix: str
) -> Iterator[tuple[GatewayThread, GatewayThread]]:
    with ExitStack() as stack:
        gws = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            gws.append(
                stack.enter_context(
                    GatewayThread(shared_config(fake_openai.url, redis_prefix), tmp_path / name)
                )
            )
        yield gws[0], gws[1]


def entry_keys(prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return list(client.scan_iter(match=prefix + "cache:e:*"))
    finally:
        client.close()


def test_entries_and_purges_are_shared(
    pair: tuple[GatewayThread, GatewayThread], fake_openai: FakeUpstream, redis_prefix: str
) -> None:
    a, b = pair
    fake_openai.knobs.text = "Paris."
    assert chat(a).headers["x-cache"] == "miss"
    assert eventually(lambda: len(entry_keys(redis_prefix)) == 1)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        ttl_ms = client.pttl(entry_keys(redis_prefix)[0])
    finally:
        client.close()
    assert 3_500_000 < ttl_ms <= 3_600_000
    from_b = chat(b)
    assert from_b.headers["x-cache"] == "hit" and text_of(from_b) == "Paris."
    assert len(fake_openai.received) == 1
    assert len(cache_of(b).local) == 1  # copied into b's in-process tier
    shared = HTTP.get(b.url + "/api/cache", headers=ADMIN).json()["shared"]
    assert shared["redis"] == "127.0.0.1:6379/0" and shared["errors"] == 0

    purged = HTTP.delete(a.url + "/api/cache", params={"model": "gpt-test"}, headers=ADMIN).json()["purged"]
    assert purged == {"local": 1, "semantic": 0, "shared": 1}
    assert entry_keys(redis_prefix) == []
    assert eventually(lambda: len(cache_of(b).local) == 0), "b did not follow a's purge"
    assert chat(b).headers["x-cache"] == "miss"
    assert len(fake_openai.received) == 2


def test_local_only_levels_never_reach_redis(
    fake_openai: FakeUpstream, tmp_path: Path, redis_prefix: str
) -> None:
    cache = "{local_max_trust: confidential, purge_poll_seconds: 0.05}"
    confidential = {"x-trust-level": "confidential"}
    with ExitStack() as stack:
        gws = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            text = shared_config(fake_openai.url, redis_prefix, cache)
            gws.append(stack.enter_context(GatewayThread(text, tmp_path / name)))
        a, b = gws
        assert chat(a, headers=confidential).headers["x-cache"] == "miss"
        stored(a, 1)
        assert chat(a, headers=confidential).headers["x-cache"] == "hit"
        assert chat(b, headers=confidential).headers["x-cache"] == "miss"
        assert entry_keys(redis_prefix) == []
        other = [{"role": "user", "content": "a public question"}]
        assert chat(a, messages=other).headers["x-cache"] == "miss"  # internal (the default) is shared
        assert eventually(lambda: len(entry_keys(redis_prefix)) == 1)
        assert chat(b, messages=other).headers["x-cache"] == "hit"


def test_unreachable_redis_is_a_miss_not_an_error(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    text = config(fake_openai.url, state=', redis_url: "redis://127.0.0.1:1/0"')
    with GatewayThread(text, tmp_path) as gw:
        assert chat(gw).headers["x-cache"] == "miss"
        stored(gw, 1)
        assert chat(gw).headers["x-cache"] == "hit"  # the in-process tier still works
        body = HTTP.get(gw.url + "/api/cache", headers=ADMIN).json()
        assert body["shared"]["errors"] >= 1 and body["shared"]["last_error"]
        ready = HTTP.get(gw.url + "/health/ready", headers=ADMIN).json()
        assert "unreachable" in str(ready)

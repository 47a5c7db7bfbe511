"""Two gateways sharing PostgreSQL and Redis, concurrent requests through both against one key: each
replica sends the admissions of one loop iteration to Redis as one script call, and Redis still decides
every request, so exactly the limit is admitted and every reservation is settled to the nano-dollar."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.state.redis_blocks import MAX_BLOCK
from tests.accounts.helpers import accounts_of, config, create_key, eventually, load
from tests.store.backends import REDIS_URL
from tests.support.gateway import GatewayThread

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_two_replicas_admit_exactly_the_limit_and_settle_every_reservation(
    fake_openai: FakeUpstream, tmp_path: Path, pg_url: str, redis_prefix: str
) -> None:
    text = config(fake_openai.url, store_url=pg_url, redis_prefix=redis_prefix)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with GatewayThread(text, tmp_path / "a") as a, GatewayThread(text, tmp_path / "b") as b:
        created = create_key(a.url, name="shared", rpm=24, budget_usd=5, budget_period="total")
        assert eventually(lambda: created["id"] in accounts_of(b).table.by_id)
        fake_openai.knobs = Knobs(latency_ms=100)  # many requests in flight on both replicas at once
        responses = load([a.url, b.url], created["key"], 64)

        ok = [r for r in responses if r.status_code == 200]
        assert len(ok) == 24, [r.status_code for r in responses]
        refused = [r for r in responses if r.status_code != 200]
        assert all(r.status_code == 429 and "24 requests per minute" in r.text for r in refused)
        remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in ok)
        assert remaining == list(range(24)), "each admission saw the shared count at its turn"

        cost = sum(float(r.headers["x-adaptive-cost-usd"]) for r in ok) * 1e9  # headers: 8 decimals
        budget = f"{redis_prefix}b:key:{created['id']}:all"
        client = redis.Redis.from_url(REDIS_URL)
        try:

            def settled() -> bool:
                spent, reserved = client.hmget(budget, "spent", "reserved")
                return abs(int(spent or 0) - cost) <= 10 * len(ok) and int(reserved or 0) == 0

            assert eventually(settled), client.hmget(budget, "spent", "reserved")
        finally:
            client.close()


def window_total(client: redis.Redis, key: str) -> int:
    return sum(int(v) for v in client.hgetall(key).values())  # type: ignore[union-attr]


def test_a_busy_key_is_admitted_from_blocks_and_every_unit_and_nano_dollar_is_accounted(
    fake_openai: FakeUpstream, tmp_path: Path, pg_url: str, redis_prefix: str
) -> None:
    """Far from its limits a busy key is admitted locally from blocks of capacity taken in Redis; once
    the blocks are settled, Redis counts exactly the requests answered, their actual tokens and their
    actual cost."""
    text = config(fake_openai.url, store_url=pg_url, redis_prefix=redis_prefix)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with GatewayThread(text, tmp_path / "a") as a, GatewayThread(text, tmp_path / "b") as b:
        created = create_key(a.url, name="busy", rpm=1_000_000, tpm=100_000_000, budget_usd=100)
        assert eventually(lambda: created["id"] in accounts_of(b).table.by_id)
        responses = [r for _ in range(3) for r in load([a.url, b.url], created["key"], 200)]
        assert {r.status_code for r in responses} == {200}
        primaries = [accounts_of(gw).counters.primary for gw in (a, b)]  # type: ignore[attr-defined]
        assert sum(p.local_admits for p in primaries) > 0, "admitted from blocks"
        assert sum(p.calls for p in primaries) < len(responses) / 4, "far fewer Redis calls than requests"
        remaining = [int(r.headers["x-ratelimit-remaining-requests"]) for r in responses]
        # each admission's view: Redis's count when its block was taken, plus what is left in the block
        assert all(1_000_000 - 600 - 2 * MAX_BLOCK <= x < 1_000_000 for x in remaining), min(remaining)

        cost = sum(float(r.headers["x-adaptive-cost-usd"]) for r in responses) * 1e9  # headers: 8 decimals
        tokens = sum(int(r.json()["usage"]["total_tokens"]) for r in responses)
        prefix = f"{redis_prefix}w:key:{created['id']}"
        budget = f"{redis_prefix}b:key:{created['id']}:"  # then the period's label
        client = redis.Redis.from_url(REDIS_URL)
        try:

            def settled() -> bool:
                keys = [k.decode() for k in client.keys(budget + "*") if not k.endswith(b":l")]
                if len(keys) != 1:
                    return False
                spent, reserved = client.hmget(keys[0], "spent", "reserved")
                return (
                    abs(int(spent or 0) - cost) <= 10 * len(responses)
                    and int(reserved or 0) == 0
                    and window_total(client, prefix + ":r") == len(responses)
                    and window_total(client, prefix + ":t") == tokens
                )

            assert eventually(settled), (client.keys(budget + "*"), window_total(client, prefix + ":r"))
        finally:
            client.close()

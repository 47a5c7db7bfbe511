"""Degraded dependencies and housekeeping: Redis unreachable (local limits, said in readiness), keys
about to expire announced once."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import orjson

from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.store.models import utcnow
from tests.accounts.helpers import ADMIN, HTTP, chat, config, create_key, eventually
from tests.accounts.test_webhooks import Receiver, hooks
from tests.support.gateway import GatewayThread, free_port


def dead_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def test_unreachable_redis_falls_back_to_local_limits(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    text = config(fake_openai.url).replace(
        "state: {key_refresh_seconds: 0.25}",
        f'state: {{key_refresh_seconds: 0.25, redis_url: "{dead_redis_url()}"}}',
    )
    with GatewayThread(text, tmp_path) as gw:
        key = create_key(gw.url, rpm=2)["key"]
        assert [chat(gw.url, key).status_code for _ in range(3)] == [200, 200, 429], "local limits hold"
        ready = HTTP.get(gw.url + "/health/ready", headers=ADMIN)
        state = ready.json()["checks"]["state"]
        assert ready.status_code == 200 and state["ok"], "still serving: ready"
        assert "degraded: Redis unreachable" in state["detail"] and "local limits" in state["detail"]


def test_expiring_keys_are_announced_once(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    soon = (utcnow() + dt.timedelta(days=2)).isoformat()
    with Receiver() as receiver:
        text = config(fake_openai.url, extra=hooks(receiver.url))

        def announced() -> list[dict[str, Any]]:
            return [
                orjson.loads(g["body"])
                for g in receiver.got
                if g["headers"]["x-adaptive-event"] == "key.expiring"
            ]

        with GatewayThread(text, tmp_path) as gw:
            created = create_key(gw.url, name="short-lived", expires_at=soon)
            create_key(gw.url, name="long-lived", expires_at="2999-01-01T00:00:00")
        # housekeeping runs a second after start (then hourly): two restarts, one announcement
        for _ in range(2):
            with GatewayThread(text, tmp_path):
                assert eventually(lambda: len(announced()) == 1, timeout=5)
                time.sleep(1.5)
        events = announced()
        assert len(events) == 1, "announced once, across restarts"
        assert events[0]["data"]["key_id"] == created["id"] and events[0]["data"]["name"] == "short-lived"


def test_store_outage_keeps_serving_and_writes_rows_afterwards(
    fake_openai: FakeUpstream, tmp_path: Path, pg_url: str
) -> None:
    from tests.accounts.helpers import query
    from tests.store.backends import _pg

    name = pg_url.rpartition("/")[2]
    with GatewayThread(config(fake_openai.url, store_url=pg_url, flush=0.1), tmp_path) as gw:
        key = create_key(gw.url)["key"]
        _pg(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        _pg(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        try:
            assert [chat(gw.url, key).status_code for _ in range(3)] == [200] * 3, "served from memory"
            ready = HTTP.get(gw.url + "/health/ready", headers=ADMIN)
            assert ready.status_code == 503 and not ready.json()["checks"]["store"]["ok"]
            assert "pending" in ready.json()["checks"]["store"]["detail"]
        finally:
            _pg(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert eventually(lambda: query(pg_url, "SELECT COUNT(*) FROM usage") == [(3,)], timeout=40)
        assert HTTP.get(gw.url + "/health/ready", headers=ADMIN).status_code == 200

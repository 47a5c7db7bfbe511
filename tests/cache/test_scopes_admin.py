"""Tenant isolation, the cache admin API (inspect, purge, roles), accounting of hits (rate limits, cost,
receipts, the request log) through the real app and its admin API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from adaptive_gateway.fakes.server import FakeUpstream
from tests.cache.support import (
    ADMIN,
    HTTP,
    cache_of,
    chat,
    config,
    create_key,
    create_tenant,
    eventually,
    stored,
    text_of,
)
from tests.support.gateway import GatewayThread


@pytest.fixture
def gw(fake_openai: FakeUpstream, tmp_path: Path) -> Iterator[GatewayThread]:
    log = tmp_path / "requests.log"
    extra = f'server: {{request_log: true, request_log_file: "{log}", reload_poll_seconds: 0}}'
    text = config(fake_openai.url).replace("server: {request_log: false, reload_poll_seconds: 0}\n", "")
    with GatewayThread(text + extra, tmp_path) as gateway:
        yield gateway


def test_tenant_b_never_gets_tenant_a_answer(gw: GatewayThread, fake_openai: FakeUpstream) -> None:
    a, b = create_tenant(gw, "tenant-a"), create_tenant(gw, "tenant-b")
    a1, a2 = create_key(gw, tenant_id=a), create_key(gw, tenant_id=a)
    b1 = create_key(gw, tenant_id=b)
    lone = create_key(gw)  # no tenant: a scope of its own
    fake_openai.knobs.text = "answer for A"
    assert text_of(chat(gw, a1)) == "answer for A"
    stored(gw, 1)
    fake_openai.knobs.text = "answer for B"
    first_b = chat(gw, b1)
    assert first_b.headers["x-cache"] == "miss" and text_of(first_b) == "answer for B"
    stored(gw, 2)
    fake_openai.knobs.text = "answer for nobody"
    same_tenant = chat(gw, a2)  # another key of tenant A shares A's entries
    assert same_tenant.headers["x-cache"] == "hit" and text_of(same_tenant) == "answer for A"
    again_b = chat(gw, b1)
    assert again_b.headers["x-cache"] == "hit" and text_of(again_b) == "answer for B"
    assert chat(gw, lone).headers["x-cache"] == "miss"
    assert len(fake_openai.received) == 3
    scopes = {e["scope"] for e in HTTP.get(gw.url + "/api/cache", headers=ADMIN).json()["data"]}
    assert {f"tenant:{a}", f"tenant:{b}"} <= scopes


def test_inspect_and_purge(gw: GatewayThread, fake_openai: FakeUpstream) -> None:
    chat(gw)
    chat(gw, messages=[{"role": "user", "content": "second question"}])
    stored(gw, 2)
    assert chat(gw).headers["x-cache"] == "hit"
    body = HTTP.get(gw.url + "/api/cache", headers=ADMIN).json()
    assert body["entries"] == 2 and body["stats"]["hits"] == 1 and body["stats"]["misses"] == 2
    assert body["stats"]["saved_usd"] > 0
    used, newest = body["data"]  # most recently used first: the hit moved the first entry up
    assert used["hits"] == 1 and used["model"] == "gpt-test" and used["scope"] == "key:master"
    assert newest["hits"] == 0 and "response" not in used
    one = HTTP.get(gw.url + "/api/cache", params={"key": used["key"]}, headers=ADMIN).json()
    assert one["matching"] == 1 and one["data"][0]["response"]["choices"][0]["message"]["content"]
    assert HTTP.get(gw.url + "/api/cache", params={"model": "other"}, headers=ADMIN).json()["matching"] == 0

    refused = HTTP.delete(gw.url + "/api/cache", headers=ADMIN)
    assert refused.status_code == 400
    by_key = HTTP.delete(gw.url + "/api/cache", params={"key": newest["key"]}, headers=ADMIN)
    assert by_key.status_code == 200 and by_key.json()["purged"]["local"] == 1
    assert chat(gw).headers["x-cache"] == "hit"
    by_model = HTTP.delete(gw.url + "/api/cache", params={"model": "gpt-test"}, headers=ADMIN)
    assert by_model.json()["purged"]["local"] == 1
    assert chat(gw).headers["x-cache"] == "miss"
    stored(gw, 3)
    everything = HTTP.delete(gw.url + "/api/cache", params={"all": "true"}, headers=ADMIN)
    assert everything.json()["purged"]["local"] == 1 and len(cache_of(gw).local) == 0


def test_purge_by_tenant(gw: GatewayThread) -> None:
    a, b = create_tenant(gw, "ta"), create_tenant(gw, "tb")
    ka, kb = create_key(gw, tenant_id=a), create_key(gw, tenant_id=b)
    chat(gw, ka)
    chat(gw, kb)
    stored(gw, 2)
    purged = HTTP.delete(gw.url + "/api/cache", params={"tenant": a}, headers=ADMIN).json()
    assert purged["selector"]["scope"] == f"tenant:{a}" and purged["purged"]["local"] == 1
    assert chat(gw, ka).headers["x-cache"] == "miss"
    assert chat(gw, kb).headers["x-cache"] == "hit"


def test_admin_api_is_for_admins_only(gw: GatewayThread) -> None:
    plain, admin = create_key(gw), create_key(gw, role="admin")
    for method in ("GET", "DELETE"):
        resp = HTTP.request(
            method, gw.url + "/api/cache?all=true", headers={"Authorization": f"Bearer {plain}"}
        )
        assert resp.status_code == 403
        assert HTTP.request(method, gw.url + "/api/cache?all=true").status_code == 401
        ok = HTTP.request(
            method, gw.url + "/api/cache?all=true", headers={"Authorization": f"Bearer {admin}"}
        )
        assert ok.status_code == 200


def test_a_hit_counts_against_the_rate_limit_but_costs_nothing(gw: GatewayThread) -> None:
    key = create_key(gw, rpm=2)
    miss = chat(gw, key)
    stored(gw, 1)
    hit = chat(gw, key)
    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("miss", "hit")
    assert float(hit.headers["x-adaptive-cost-usd"]) == 0
    limited = chat(gw, key)
    assert limited.status_code == 429


def test_receipt_and_log_line_say_served_from_cache(gw: GatewayThread, tmp_path: Path) -> None:
    miss = chat(gw)
    cost = float(miss.headers["x-adaptive-cost-usd"])
    stored(gw, 1)
    hit = chat(gw)
    receipt = HTTP.get(gw.url + "/api/receipts/" + hit.headers["x-adaptive-receipt"], headers=ADMIN).json()
    cache = receipt["cache"]
    assert cache["status"] == "hit" and cache["served"].startswith(
        "served from cache (exact match, entry age"
    )
    assert cache["saved_usd"] == pytest.approx(cost) and cache["age_s"] >= 0
    assert receipt["cost_usd"] == 0 and receipt["used"] is None and receipt["outcome"] == "success"
    missed = HTTP.get(gw.url + "/api/receipts/" + miss.headers["x-adaptive-receipt"], headers=ADMIN).json()
    assert missed["cache"]["status"] == "miss"

    log = tmp_path / "requests.log"

    def logged() -> list[dict[str, object]]:
        return [orjson.loads(line) for line in log.read_bytes().splitlines()] if log.exists() else []

    assert eventually(lambda: len(logged()) >= 2)
    line = next(r for r in logged() if r["request_id"] == hit.headers["x-request-id"])
    verdict = line["cache"]  # the observability log line carries the status; the core one the whole note
    assert (verdict["status"] if isinstance(verdict, dict) else verdict) == "hit"

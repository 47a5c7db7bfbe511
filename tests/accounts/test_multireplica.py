"""Two gateway processes sharing the real PostgreSQL and Redis, concurrent load through both against
one key: the total admitted never exceeds the RPM limit or the hard budget, and the spend recorded in
PostgreSQL equals the sum of the responses' cost headers."""

from __future__ import annotations

import itertools
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from adaptive_gateway.fakes.server import FakeUpstream
from tests.accounts.helpers import ADMIN, bearer, config, create_key, eventually, query, unique_chat
from tests.support.process import GatewayProcess

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def keys_version(url: str) -> int:
    detail = httpx.get(url + "/health/ready", headers=ADMIN, timeout=5).json()["checks"]["store"]["detail"]
    match = re.search(r"keys v(\d+)", detail)
    return int(match.group(1)) if match else -1


def load(urls: list[str], key: str, n: int, **body: object) -> list[tuple[str, httpx.Response]]:
    """``n`` requests spread evenly over the replicas, 16 at a time: (replica, response)."""
    targets = list(itertools.islice(itertools.cycle(urls), n))
    with httpx.Client(timeout=20, limits=httpx.Limits(max_connections=32)) as client:

        def one(url: str) -> tuple[str, httpx.Response]:
            return url, client.post(
                url + "/v1/chat/completions", headers=bearer(key), json=unique_chat(**body)
            )

        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(one, targets))


def test_two_replicas_share_limits_and_spend_exactly(
    fake_openai: FakeUpstream, tmp_path: Path, pg_url: str, redis_prefix: str
) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config(fake_openai.url, store_url=pg_url, redis_prefix=redis_prefix, flush=0.2))
    # separate homes, like separate machines; only PostgreSQL and Redis are shared
    a = GatewayProcess(cfg, env={"ADAPTIVE_GATEWAY_HOME": str(tmp_path / "home-a")})
    b = GatewayProcess(cfg, env={"ADAPTIVE_GATEWAY_HOME": str(tmp_path / "home-b")})
    with a, b:  # both migrate the same database at start
        urls = [a.url, b.url]
        rpm_key = create_key(a.url, name="rpm-bound", rpm=30)
        budget_key = create_key(a.url, name="budget-bound", budget_usd=0.002, budget_period="total")
        version = keys_version(a.url)
        assert eventually(lambda: keys_version(b.url) == version)

        by_rpm = [r for _, r in load(urls, rpm_key["key"], 80)]
        assert sum(r.status_code == 200 for r in by_rpm) == 30
        assert {r.status_code for r in by_rpm} == {200, 429}
        refused = [r for r in by_rpm if r.status_code == 429]
        assert all("30 requests per minute" in r.json()["error"]["message"] for r in refused)

        answered = load(urls, budget_key["key"], 160, max_tokens=100)
        by_budget = [r for _, r in answered]
        ok = [r for r in by_budget if r.status_code == 200]
        assert {url for url, r in answered if r.status_code == 200} == set(urls), (
            "both replicas admitted some"
        )
        assert ok and len(ok) < 160, "the budget must bind"
        assert {r.status_code for r in by_budget} == {200, 429}
        spent_headers = sum(float(r.headers["x-adaptive-cost-usd"]) for r in ok)
        assert spent_headers <= 0.002, "a hard budget is never overspent (reservations bound each request)"
    # both replicas stopped with SIGTERM: every usage row is in PostgreSQL
    rows = query(
        pg_url,
        f"SELECT COUNT(*), SUM(cost_nano) FROM usage WHERE key_id = '{budget_key['id']}' AND status = 200",
    )
    count, total = rows[0][0], int(rows[0][1])
    assert count == len(ok)
    assert abs(total / 1e9 - spent_headers) < 1e-6, "equal to the cent (and far finer)"
    spend = query(
        pg_url, f"SELECT SUM(cost_nano) FROM spend WHERE scope='key' AND scope_id='{budget_key['id']}'"
    )
    assert int(spend[0][0]) == total
    admitted_rpm = query(
        pg_url, f"SELECT COUNT(*) FROM usage WHERE key_id = '{rpm_key['id']}' AND status = 200"
    )
    assert admitted_rpm == [(30,)]

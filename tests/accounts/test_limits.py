"""Rate limits, concurrency, budgets and per-request caps through HTTP, with the standard headers."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.accounts.helpers import ADMIN, HTTP, chat, config, create_key
from tests.support.gateway import MASTER_KEY, GatewayThread


@pytest.fixture
def gw(fake_openai: FakeUpstream, tmp_path: Path) -> Iterator[GatewayThread]:
    extra = """
limits:
  unauthenticated_rpm_per_ip: 1000
  models: {gpt-4o-mini: {}}
"""
    with GatewayThread(config(fake_openai.url, extra=extra), tmp_path) as thread:
        yield thread


def parallel(n: int, call: object) -> list[object]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: call(), range(n)))  # type: ignore[operator]


def test_rpm_headers_then_429_with_retry_after(gw: GatewayThread) -> None:
    key = create_key(gw.url, rpm=2)["key"]
    first, second, third = (chat(gw.url, key) for _ in range(3))
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert second.headers["x-ratelimit-remaining-requests"] == "0"
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")
    assert third.status_code == 429
    assert 1 <= int(third.headers["retry-after"]) <= 60 and int(third.headers["retry-after-ms"]) > 0
    assert third.headers["x-ratelimit-remaining-requests"] == "0"
    err = third.json()["error"]
    assert err["type"] == "rate_limit_error" and "allows 2 requests per minute" in err["message"]
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])


def test_tpm_reserves_at_admission_and_counts_actual_usage(
    gw: GatewayThread, fake_openai: FakeUpstream
) -> None:
    key = create_key(gw.url, tpm=400)["key"]
    first = chat(gw.url, key, max_tokens=150)
    assert first.status_code == 200 and first.headers["x-ratelimit-limit-tokens"] == "400"
    reserved = 400 - int(first.headers["x-ratelimit-remaining-tokens"])
    assert reserved >= 150, "prompt estimate + max_tokens are reserved"
    used = first.json()["usage"]["total_tokens"]
    second = chat(gw.url, key, max_tokens=150)
    remaining = int(second.headers["x-ratelimit-remaining-tokens"])
    # the first request now counts its actual tokens, not its reservation (prompts differ by a token or two)
    assert abs(remaining - (400 - used - reserved)) <= 3, "settled to actual"
    fake_openai.knobs = Knobs(latency_ms=400)
    results = parallel(3, lambda: chat(gw.url, key, max_tokens=150))
    fits = (400 - 2 * used) // reserved
    assert fits < 3
    codes = sorted(r.status_code for r in results)  # type: ignore[attr-defined]
    assert codes == [200] * fits + [429] * (3 - fits)
    refused = next(r for r in results if r.status_code == 429)  # type: ignore[attr-defined]
    assert refused.headers["x-ratelimit-remaining-tokens"] == "0" and "tokens per minute" in refused.text
    huge = chat(gw.url, key, max_tokens=5000)
    assert huge.status_code == 429 and "more than key" in huge.json()["error"]["message"]


def test_concurrency_limit(gw: GatewayThread, fake_openai: FakeUpstream) -> None:
    key = create_key(gw.url, max_concurrency=2)["key"]
    fake_openai.knobs = Knobs(latency_ms=500)
    codes = sorted(r.status_code for r in parallel(4, lambda: chat(gw.url, key)))  # type: ignore[attr-defined]
    assert codes == [200, 200, 429, 429]
    fake_openai.knobs = Knobs()
    assert chat(gw.url, key).status_code == 200, "slots come back when requests finish"


def test_tenant_limits_are_shared_by_its_keys(gw: GatewayThread) -> None:
    tenant = HTTP.post(gw.url + "/api/tenants", headers=ADMIN, json={"name": "team-a", "rpm": 3}).json()
    a = create_key(gw.url, tenant_id=tenant["id"])["key"]
    b = create_key(gw.url, tenant_id=tenant["id"])["key"]
    assert [chat(gw.url, k).status_code for k in (a, b, a)] == [200, 200, 200]
    refused = chat(gw.url, b)
    assert refused.status_code == 429 and "tenant 'team-a'" in refused.json()["error"]["message"]


def test_model_limits_apply_to_every_caller(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    extra = "limits: {models: {gpt-test: {rpm: 2}}}"
    with GatewayThread(config(fake_openai.url, extra=extra), tmp_path) as gw:
        assert [chat(gw.url, MASTER_KEY).status_code for _ in range(3)] == [200, 200, 429]
        assert "model 'gpt-test'" in chat(gw.url, MASTER_KEY).json()["error"]["message"]


def test_hard_budget_refuses_with_budget_and_reset(gw: GatewayThread) -> None:
    # $1 / $2 per million tokens; max_tokens 1000 reserves ~ $0.002 per request
    key = create_key(gw.url, budget_usd=0.0025, budget_period="day")["key"]
    assert chat(gw.url, key, max_tokens=1000).status_code == 200
    spent = 0.0
    for _ in range(30):
        resp = chat(gw.url, key, max_tokens=1000)
        if resp.status_code != 200:
            break
        spent += float(resp.headers["x-adaptive-cost-usd"])
    assert resp.status_code == 429
    err = resp.json()["error"]
    assert err["type"] == "budget_exceeded"
    assert "day budget of $0.002500" in err["message"] and "resets at " in err["message"]
    assert err["message"].endswith("T00:00:00Z") and int(resp.headers["retry-after"]) > 0
    budgets = HTTP.get(gw.url + "/api/budgets", headers=ADMIN).json()
    assert budgets[0]["spent_usd"] <= 0.0025 and budgets[0]["reserved_usd"] == 0


def test_concurrent_requests_cannot_overspend_a_hard_budget(
    gw: GatewayThread, fake_openai: FakeUpstream
) -> None:
    key = create_key(gw.url, budget_usd=0.005, budget_period="total")["key"]
    fake_openai.knobs = Knobs(latency_ms=300)
    results = parallel(8, lambda: chat(gw.url, key, max_tokens=1000))
    ok = [r for r in results if r.status_code == 200]  # type: ignore[attr-defined]
    assert len(ok) == 2, "each request reserves ~$0.002 of $0.005 while in flight"
    refused = [r for r in results if r.status_code == 429]  # type: ignore[attr-defined]
    assert all("reserved by requests in flight" in r.json()["error"]["message"] for r in refused)  # type: ignore[attr-defined]
    assert "resets at never (total budget)" in refused[0].json()["error"]["message"]  # type: ignore[attr-defined]


def test_soft_budget_only_alerts(gw: GatewayThread) -> None:
    key = create_key(gw.url, budget_usd=0.000001, budget_hard=False)["key"]
    assert [chat(gw.url, key).status_code for _ in range(3)] == [200, 200, 200]


def test_per_request_caps(gw: GatewayThread, fake_openai: FakeUpstream) -> None:
    capped = create_key(gw.url, max_tokens=100)["key"]
    resp = chat(gw.url, capped, max_tokens=101)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "max_tokens"
    assert chat(gw.url, capped, max_tokens=100).status_code == 200
    cheap = create_key(gw.url, max_cost_usd=0.001)["key"]
    resp = chat(gw.url, cheap, max_tokens=1000)  # ~ $0.002 estimated
    err = resp.json()["error"]
    assert resp.status_code == 400 and err["code"] == "max_cost_exceeded"
    assert "exceeds this key's max cost per request of $0.001000" in err["message"]
    before = len(fake_openai.received)
    assert chat(gw.url, cheap, max_tokens=100).status_code == 200
    assert len(fake_openai.received) == before + 1, "refused requests never reach the upstream"


def test_ip_allow_list(gw: GatewayThread) -> None:
    outside = create_key(gw.url, ip_allow=["10.0.0.0/8", "2001:db8::/32"])["key"]
    resp = chat(gw.url, outside)
    assert resp.status_code == 403 and "127.0.0.1" in resp.json()["error"]["message"]
    inside = create_key(gw.url, ip_allow=["127.0.0.1"])["key"]
    assert chat(gw.url, inside).status_code == 200
    bad = HTTP.post(gw.url + "/api/keys", headers=ADMIN, json={"name": "x", "ip_allow": ["10.0.0.300/8"]})
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "ip_allow"


def test_failed_authentication_is_limited_per_ip(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    extra = "limits: {unauthenticated_rpm_per_ip: 3}"
    with GatewayThread(config(fake_openai.url, extra=extra), tmp_path) as gw:
        codes = [chat(gw.url, "sk-wrong").status_code for _ in range(5)]
        assert codes == [401, 401, 401, 429, 429]
        assert chat(gw.url, MASTER_KEY).status_code == 200, "valid keys still work"


def test_refusals_are_decided_on_the_full_token_estimate(gw: GatewayThread) -> None:
    # the quick estimate (a third of the characters) says ~510 prompt tokens, the full one ~310
    key = create_key(gw.url, tpm=400)["key"]
    words = {"role": "user", "content": "word " * 300}
    resp = HTTP.post(
        gw.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "gpt-test", "messages": [words], "max_tokens": 10},
    )
    assert resp.status_code == 200, resp.text
    assert 0 < int(resp.headers["x-ratelimit-remaining-tokens"]) < 100

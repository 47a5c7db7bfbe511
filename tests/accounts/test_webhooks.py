"""Webhooks to a real local receiver: HMAC-SHA256 signatures, retries with backoff, the delivery log,
and the events that budgets and rate limits fire."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from adaptive_gateway.accounts.webhooks import sign, verify
from adaptive_gateway.fakes.server import FakeUpstream
from tests.accounts.helpers import ADMIN, HTTP, accounts_of, chat, config, create_key, eventually, load
from tests.support.gateway import GatewayThread, free_port

SECRET = "whsec-test-0123456789"


@dataclass
class Receiver:
    """An aiohttp server in a thread that records deliveries and fails the first ``fail`` of them."""

    fail: int = 0
    got: list[dict[str, Any]] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.got.append({"headers": dict(request.headers), "body": body})
        if self.fail > 0:
            self.fail -= 1
            return web.Response(status=503)
        return web.Response(status=204)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [orjson.loads(g["body"]) for g in self.got if g["headers"]["x-adaptive-event"] == name]

    def __enter__(self) -> Receiver:
        self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def hooks(url: str, attempts: int = 4, events: str = "[]", thresholds: str = "[0.25]") -> str:
    return f"""
webhooks:
  - {{url: "{url}", secret: "{SECRET}", max_attempts: {attempts}, backoff_seconds: 0.05, events: {events}}}
budgets: {{thresholds: {thresholds}}}
"""


def test_signature_round_trip() -> None:
    body = b'{"a":1}'
    assert verify(SECRET, "1700000000", body, sign(SECRET, "1700000000", body))
    assert not verify(SECRET, "1700000001", body, sign(SECRET, "1700000000", body))
    assert not verify("other", "1700000000", body, sign(SECRET, "1700000000", body))


def test_signed_retried_and_logged(fake_openai: FakeUpstream, tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail = 2
    with GatewayThread(config(fake_openai.url, extra=hooks(receiver.url)), tmp_path) as gw:
        assert HTTP.post(gw.url + "/api/webhooks/test", headers=ADMIN).status_code == 202
        assert eventually(lambda: len(receiver.got) == 3)
        first, last = receiver.got[0], receiver.got[-1]
        assert first["body"] == last["body"], "a retry resends the same event"
        headers = last["headers"]
        assert headers["x-adaptive-event"] == "webhook.test"
        assert verify(SECRET, headers["x-adaptive-timestamp"], last["body"], headers["x-adaptive-signature"])
        event = orjson.loads(last["body"])
        assert event["event"] == "webhook.test" and event["id"] == headers["x-adaptive-delivery"]

        def logged() -> list[dict[str, Any]]:
            resp = HTTP.get(gw.url + "/api/webhooks/deliveries", headers=ADMIN)
            return resp.json() if resp.status_code == 200 else []

        assert eventually(lambda: len(logged()) == 1)
        row = logged()[0]
        assert row["status"] == "delivered" and row["attempts"] == 3 and row["response_status"] == 204
        assert row["id"] == event["id"] and orjson.loads(row["payload"]) == event
        listed = HTTP.get(gw.url + "/api/webhooks", headers=ADMIN).json()
        assert listed["endpoints"][0]["url"] == receiver.url and SECRET not in str(listed)


def test_failed_deliveries_are_logged(fake_openai: FakeUpstream, tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail = 100
    with GatewayThread(config(fake_openai.url, extra=hooks(receiver.url, attempts=2)), tmp_path) as gw:
        HTTP.post(gw.url + "/api/webhooks/test", headers=ADMIN)

        def failed() -> list[dict[str, Any]]:
            params = {"status": "failed"}
            return HTTP.get(gw.url + "/api/webhooks/deliveries", headers=ADMIN, params=params).json()

        assert eventually(lambda: len(failed()) == 1)
        assert failed()[0]["attempts"] == 2 and failed()[0]["error"] == "HTTP 503"


def test_budget_and_rate_limit_events(fake_openai: FakeUpstream, tmp_path: Path, receiver: Receiver) -> None:
    with GatewayThread(config(fake_openai.url, extra=hooks(receiver.url)), tmp_path) as gw:
        # each request costs ~$0.000024 and reserves ~$0.0001 (max_tokens 50)
        key = create_key(gw.url, name="team-x", budget_usd=0.0002)["key"]
        codes = [chat(gw.url, key, max_tokens=50).status_code for _ in range(12)]
        assert 429 in codes
        assert eventually(lambda: receiver.events("budget.threshold") and receiver.events("budget.exhausted"))
        threshold = receiver.events("budget.threshold")
        assert len(threshold) == 1 and threshold[0]["data"]["threshold"] == 0.25
        assert threshold[0]["data"]["name"] == "team-x" and threshold[0]["data"]["budget_usd"] == 0.0002
        assert len(receiver.events("budget.exhausted")) == 1
        busy = create_key(gw.url, rpm=5)["key"]
        assert [chat(gw.url, busy).status_code for _ in range(6)] == [200] * 5 + [429]
        assert eventually(lambda: receiver.events("rate_limit.approaching"))
        approaching = receiver.events("rate_limit.approaching")[0]["data"]
        assert approaching["limit_per_minute"] == 5 and approaching["unit"] == "requests"


def test_deployment_degraded_and_event_filter(
    fake_openai: FakeUpstream, tmp_path: Path, receiver: Receiver
) -> None:
    from adaptive_gateway.fakes.knobs import Knobs

    extra = hooks(receiver.url, events='["deployment.degraded"]')
    with GatewayThread(config(fake_openai.url, extra=extra), tmp_path) as gw:
        HTTP.post(gw.url + "/api/webhooks/test", headers=ADMIN)
        fake_openai.knobs = Knobs(status=500)
        assert chat(gw.url, create_key(gw.url)["key"]).status_code >= 500
        assert eventually(lambda: receiver.events("deployment.degraded"))
        assert not receiver.events("webhook.test"), "only subscribed events are sent"
        assert receiver.events("deployment.degraded")[0]["data"]["deployment"].startswith("gpt-test#0")


@pytest.mark.redis
def test_budget_thresholds_fire_once_when_blocks_of_redis_capacity_settle(
    fake_openai: FakeUpstream, tmp_path: Path, receiver: Receiver, redis_prefix: str
) -> None:
    """A busy key is admitted from blocks of Redis capacity, whose requests settle into the block and
    reach Redis as one settlement per block: a threshold crossed by a block's settlement fires once."""
    extra = hooks(receiver.url, thresholds="[0.05, 0.1]")
    with GatewayThread(config(fake_openai.url, redis_prefix=redis_prefix, extra=extra), tmp_path) as gw:
        # ~$0.000024 per request, ~$0.00011 reserved (max_tokens 50): 240 of them spend ~30 % of the
        # budget, so blocks have room all along (in flight + blocks never reach it) and cross two thresholds
        created = create_key(gw.url, name="team-blocks", budget_usd=0.02, budget_period="total")
        responses = load([gw.url], created["key"], 240, max_tokens=50)
        assert {r.status_code for r in responses} == {200}
        assert accounts_of(gw).counters.primary.local_admits > 0, "admitted from blocks"  # type: ignore[attr-defined]
        cost = sum(float(r.headers["x-adaptive-cost-usd"]) for r in responses)
        assert cost > 0.1 * 0.02, cost

        assert eventually(lambda: len(receiver.events("budget.threshold")) >= 2)
        time.sleep(0.5)  # a duplicate would arrive by now
        events = receiver.events("budget.threshold")
        assert sorted(e["data"]["threshold"] for e in events) == [0.05, 0.1]
        for event in events:
            data = event["data"]
            assert data["name"] == "team-blocks" and data["scope"] == "key" and data["budget_usd"] == 0.02
            assert data["threshold"] * 0.02 <= data["spent_usd"] <= cost + 1e-9
        assert not receiver.events("budget.exhausted")

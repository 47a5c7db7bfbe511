"""Fault injection through HTTP: the real app under uvicorn, two fake upstreams, aiohttp / the openai SDK.

One of two deployments down -> zero failed client requests under load; the breaker opens and recovers on
schedule driven by a hand-moved clock; 429 + Retry-After, slow, hanging and reset upstreams; streams are
never replayed once bytes went out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from adaptive_gateway.fakes import FakeUpstream, Knobs
from tests.pipeline.execute_support import ResetServer
from tests.routing.support import PRIMARY, FakeClock, two_deployments
from tests.support.gateway import MASTER_KEY, GatewayThread, free_port

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def fakes() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    a = FakeUpstream("openai", record=True).start_in_thread()
    b = FakeUpstream("openai", record=True).start_in_thread()
    try:
        yield a, b
    finally:
        a.stop_thread()
        b.stop_thread()


async def providers(session: aiohttp.ClientSession, gw: GatewayThread) -> dict[str, Any]:
    async with session.get(gw.url + "/health/providers", headers=AUTH) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
    return {d["provider"]: d for p in body["providers"].values() for d in p["deployments"]}


async def load(gw: GatewayThread, total: int, concurrency: int = 32) -> list[int]:
    statuses: list[int] = []
    todo = iter(range(total))

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in todo:
            async with session.post(gw.url + "/v1/chat/completions", json=CHAT, headers=AUTH) as resp:
                await resp.read()
                statuses.append(resp.status)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return statuses


@pytest.mark.parametrize("down", ["refused", "500"])
async def test_one_of_two_down_zero_failed_requests_under_load(
    fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path, down: str
) -> None:
    a, b = fakes
    url_a = f"http://127.0.0.1:{free_port()}" if down == "refused" else a.url
    a.knobs = Knobs(status=500)
    b.reset()
    with GatewayThread(two_deployments(url_a, b.url, weights=(1, 1)), tmp_path) as gw:
        statuses = await load(gw, 2000)
        assert len(statuses) == 2000 and set(statuses) == {200}
        async with aiohttp.ClientSession() as session:
            health = await providers(session, gw)
    assert health["a"]["breaker"]["state"] == "open" and health["a"]["health"]["score"] == 0
    assert health["b"]["breaker"]["state"] == "closed" and health["b"]["health"]["score"] == 100
    assert len(b.received) == 2000
    if down == "500":
        # the breaker opened at 5 failures; only requests already on their way got there after it
        assert 5 <= len(a.received) <= 5 + 32


async def test_breaker_opens_and_recovers_on_schedule(
    fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path
) -> None:
    a, b = fakes
    a.knobs = Knobs(status=500)
    clock = FakeClock()
    gw = GatewayThread(two_deployments(a.url, b.url, weights=PRIMARY), tmp_path)
    gw.app.gateway.executor.router.clock = clock
    with gw:
        assert set(await load(gw, 12, 1)) == {200}
        async with aiohttp.ClientSession() as session:
            state = (await providers(session, gw))["a"]["breaker"]
            assert state["state"] == "open" and 300 <= state["open_for_s"] <= 330
            assert len(a.received) == 5
            a.knobs = Knobs()  # recovered: the breaker still holds it out until the period ends
            clock.advance(299)
            await load(gw, 5, 1)
            assert len(a.received) == 5
            clock.advance(32)  # past the open period and its jitter
            await load(gw, 1, 1)
            assert (await providers(session, gw))["a"]["breaker"]["state"] == "half_open"
            await load(gw, 2, 1)
            assert (await providers(session, gw))["a"]["breaker"]["state"] == "closed"
            assert len(a.received) == 8
            await load(gw, 5, 1)
            assert len(a.received) == 13  # primary again


async def test_429_with_retry_after_is_waited_out_and_reported(
    fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path
) -> None:
    a, _ = fakes
    a.knobs = Knobs(status=429, retry_after_ms=200, fail_times=1)
    text = two_deployments(a.url, a.url, weights=(1, 0))  # one usable deployment: retried in place
    with GatewayThread(text, tmp_path) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(model="m", messages=CHAT["messages"])  # type: ignore[arg-type]
        assert raw.parse().choices[0].message.content
        assert raw.headers["x-adaptive-attempts"] == "2" and raw.headers["x-adaptive-retries"] == "1"
        assert "x-adaptive-fallbacks" not in raw.headers
    assert len(a.received) == 2


@pytest.mark.parametrize("fault", [{"latency_ms": 3000}, {"hang": True}, {"status": 502, "fail_times": 3}])
async def test_slow_hanging_or_failing_primary_fails_over(
    fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path, fault: dict[str, Any]
) -> None:
    a, b = fakes
    a.knobs = Knobs(**fault)
    extra = "    retry: {attempt_timeout: 0.3, backoff_base: 0.01}"
    with GatewayThread(two_deployments(a.url, b.url, weights=PRIMARY, model_extra=extra), tmp_path) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(model="m", messages=CHAT["messages"])  # type: ignore[arg-type]
        assert raw.parse().choices[0].message.content
        assert raw.headers["x-adaptive-provider"] == "b"
        assert raw.headers["x-adaptive-attempts"] == "2" and raw.headers["x-adaptive-fallbacks"] == "1"


async def stream_body(gw: GatewayThread) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(gw.url + "/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH) as resp,
    ):
        return resp.status, (await resp.read()).decode()


async def test_reset_before_the_stream_starts_fails_over(
    fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path
) -> None:
    _, b = fakes
    async with ResetServer() as reset:
        with GatewayThread(two_deployments(reset.url, b.url, weights=PRIMARY), tmp_path) as gw:
            status, body = await stream_body(gw)
    assert status == 200 and body.rstrip().endswith("data: [DONE]")
    assert reset.hits >= 1 and b.completed_streams == 1


async def test_reset_during_the_stream_is_never_replayed(
    fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path
) -> None:
    a, b = fakes
    a.knobs = Knobs(drop_after=2, tokens=8)
    with GatewayThread(two_deployments(a.url, b.url, weights=PRIMARY), tmp_path) as gw:
        status, body = await stream_body(gw)
        async with aiohttp.ClientSession() as session:
            health = await providers(session, gw)
    assert status == 200 and '"content"' in body
    assert body.rstrip().splitlines()[-1].startswith('data: {"error"') and "[DONE]" not in body
    assert len(b.received) == 0  # bytes had gone out: no replay elsewhere
    assert health["a"]["health"]["errors"] == {"transport": 1} and health["a"]["health"]["inflight"] == 0


async def test_streams_hold_their_deployment_until_they_end(
    fakes: tuple[FakeUpstream, FakeUpstream], tmp_path: Path
) -> None:
    a, _ = fakes
    a.knobs = Knobs(tokens=400, token_rate=100)
    with GatewayThread(two_deployments(a.url, a.url, weights=(1, 0)), tmp_path) as gw:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                gw.url + "/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH
            ) as resp:
                await resp.content.readline()
                assert (await providers(session, gw))["a"]["health"]["inflight"] == 1
            # the client went away mid-stream: the hold ends with it, and it is no failure of a's
            for _ in range(200):
                health = (await providers(session, gw))["a"]["health"]
                if health["inflight"] == 0:
                    break
                await asyncio.sleep(0.02)
            assert health["inflight"] == 0 and health["errors"] == {}
            a.knobs = Knobs()
            status, body = await stream_body(gw)
            assert status == 200 and body.rstrip().endswith("[DONE]")
            health = (await providers(session, gw))["a"]["health"]
            assert health["inflight"] == 0 and health["window_requests"] == 2

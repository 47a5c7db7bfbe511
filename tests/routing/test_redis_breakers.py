"""Breakers shared through the real Redis: two routers (two workers) and a second process, one clock.
Under CI=true a missing Redis fails these tests (see conftest.redis_prefix)."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from adaptive_gateway.errors import UpstreamUnreachable
from adaptive_gateway.fakes import FakeUpstream, Knobs
from adaptive_gateway.routing.breaker import ALLOW, CLOSED, DENY, HALF_OPEN, OPEN, PROBE
from adaptive_gateway.routing.breaker_redis import RedisBreakers
from adaptive_gateway.routing.health import Board
from adaptive_gateway.routing.retry import classify
from adaptive_gateway.routing.router import Router
from tests.routing.conftest import wait_until
from tests.routing.support import PRIMARY, FakeClock, compiled, two_deployments
from tests.support.gateway import MASTER_KEY, GatewayThread

CONFIG = """
providers: {p: {kind: ollama-openai}}
models:
  m: {deployments: [{provider: p, model: x}, {provider: p, model: y}]}
"""
DOWN = UpstreamUnreachable("connection refused")
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def two_workers(redis_prefix: tuple[str, str], clock: FakeClock) -> tuple[Router, Router]:
    url, prefix = redis_prefix
    a, b = Router(clock), Router(clock)
    await a.share(url, prefix, poll_seconds=0.2)
    await b.share(url, prefix, poll_seconds=0.2)
    return a, b


async def test_open_in_one_worker_is_open_in_the_other(
    redis_prefix: tuple[str, str], clock: FakeClock
) -> None:
    dep = compiled(CONFIG).models["m"].deployments[0]
    a, b = await two_workers(redis_prefix, clock)
    try:
        sa, sb = a.state(dep), b.state(dep)
        for _ in range(3):
            a.failed(dep, sa, classify(DOWN), DOWN)
        for _ in range(2):  # the count is shared: 3 + 2 = the threshold of 5
            await wait_until(lambda: sb.breaker.failures >= 3)
            b.failed(dep, sb, classify(DOWN), DOWN)
        await wait_until(lambda: sa.breaker.state == OPEN and sb.breaker.state == OPEN)
        assert a.gate(dep, sa) == DENY and b.gate(dep, sb) == DENY

        clock.advance(300 * 1.1 + 1)  # the open period, past the longest jitter
        assert a.gate(dep, sa) == PROBE and b.gate(dep, sb) == PROBE
        assert await a.take_probe(dep, sa) is True
        assert await b.take_probe(dep, sb) is False  # one probe across the fleet
        await wait_until(lambda: sb.breaker.state == HALF_OPEN)
        for i in range(3):
            if i:
                assert await a.take_probe(dep, sa) is True
            a.succeeded(dep, sa, 5.0)
            await wait_until(lambda i=i: sb.breaker.successes == i + 1 or sb.breaker.state == CLOSED)
        await wait_until(lambda: sb.breaker.state == CLOSED and sa.breaker.state == CLOSED)
        assert b.gate(dep, sb) == ALLOW
    finally:
        await a.close()
        await b.close()


async def test_a_success_elsewhere_resets_the_shared_count(
    redis_prefix: tuple[str, str], clock: FakeClock
) -> None:
    dep = compiled(CONFIG).models["m"].deployments[1]
    a, b = await two_workers(redis_prefix, clock)
    try:
        sa, sb = a.state(dep), b.state(dep)
        for _ in range(4):
            a.failed(dep, sa, classify(DOWN), DOWN)
        await wait_until(lambda: sb.breaker.failures == 4)
        b.succeeded(dep, sb, 5.0)  # b sees the shared count, so it tells Redis
        await wait_until(lambda: sa.breaker.failures == 0)
        a.failed(dep, sa, classify(DOWN), DOWN)
        await wait_until(lambda: sb.breaker.failures == 1)
        assert sa.breaker.state == sb.breaker.state == CLOSED
    finally:
        await a.close()
        await b.close()


CHILD = """
import asyncio, sys
from adaptive_gateway.config import compile_config, parse_config
from adaptive_gateway.errors import UpstreamUnreachable
from adaptive_gateway.fakes import FakeUpstream, Knobs
from adaptive_gateway.routing.retry import classify
from adaptive_gateway.routing.router import Router

async def main():
    url, prefix, now, config = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    dep = compile_config(parse_config(config, {}), {}).models["m"].deployments[0]
    router = Router(lambda: now)
    await router.share(url, prefix)
    st, err = router.state(dep), UpstreamUnreachable("refused")
    for _ in range(5):
        router.failed(dep, st, classify(err), err)
    await router.close()  # waits for the pending writes
    print(st.breaker.name)

asyncio.run(main())
"""


async def test_another_process_opens_it(redis_prefix: tuple[str, str], clock: FakeClock) -> None:
    url, prefix = redis_prefix
    dep = compiled(CONFIG).models["m"].deployments[0]
    router = Router(clock)
    await router.share(url, prefix, poll_seconds=0.2)
    try:
        st = router.state(dep)
        assert st.breaker.state == CLOSED
        out = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(CHILD), url, prefix, repr(clock.now), CONFIG],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "open"
        await wait_until(lambda: st.breaker.state == OPEN)
        assert router.gate(dep, st) == DENY
    finally:
        await router.close()


async def test_close_soon_after_start_never_hangs(redis_prefix: tuple[str, str]) -> None:
    """redis-py can swallow a cancellation that lands while subscribing; close() must still return
    (it hung CI for 120 s when a test's blocking subprocess call delayed the subscription)."""
    url, prefix = redis_prefix
    rng = random.Random(7)
    for _ in range(40):
        shared = RedisBreakers(url, prefix, Board(), poll_seconds=0.05)
        starting = asyncio.create_task(shared.start())
        await asyncio.sleep(rng.random() * 0.004)
        closing = asyncio.create_task(shared.close())
        done, _ = await asyncio.wait([closing], timeout=10)
        assert done, "close() hung"
        closing.result()
        starting.cancel()
        assert all(task.done() for task in shared._loops)


async def test_unreachable_redis_decides_locally(clock: FakeClock) -> None:
    dep = compiled(CONFIG).models["m"].deployments[0]
    router = Router(clock)
    await router.share("redis://127.0.0.1:1/0", "agw-test-none:", poll_seconds=0.1)
    try:
        st = router.state(dep)
        for _ in range(5):
            router.failed(dep, st, classify(DOWN), DOWN)
        assert st.breaker.state == OPEN
        clock.advance(400)
        assert await router.take_probe(dep, st) is True  # Redis down: the local breaker decides
    finally:
        await router.close()


async def test_two_gateways_share_breakers_through_redis(
    redis_prefix: tuple[str, str], tmp_path: Path
) -> None:
    url, prefix = redis_prefix
    a = FakeUpstream("openai").start_in_thread()
    b = FakeUpstream("openai").start_in_thread()
    a.knobs = Knobs(status=500)
    top = f'state: {{redis_url: "{url}", redis_prefix: "{prefix}"}}'
    text = two_deployments(a.url, b.url, weights=PRIMARY, top=top)
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    try:
        with GatewayThread(text, tmp_path / "1") as g1, GatewayThread(text, tmp_path / "2") as g2:
            async with httpx.AsyncClient(headers=AUTH, timeout=10) as client:
                for _ in range(5):
                    assert (await client.post(g1.url + "/v1/chat/completions", json=CHAT)).status_code == 200
                assert len(a.received) == 5

                async def state_in_g2() -> str:
                    data = (await client.get(g2.url + "/health/providers")).json()
                    assert data["breakers"] == "redis"
                    return str(data["providers"]["a"]["deployments"][0]["breaker"]["state"])

                for _ in range(300):
                    if await state_in_g2() == "open":
                        break
                    await asyncio.sleep(0.02)
                assert await state_in_g2() == "open"
                for _ in range(5):  # the other gateway skips a without calling it
                    assert (await client.post(g2.url + "/v1/chat/completions", json=CHAT)).status_code == 200
                assert len(a.received) == 5
                ready = (await client.get(g2.url + "/health/ready")).json()
                assert ready["checks"]["breakers"]["detail"].startswith("shared through redis")
    finally:
        a.stop_thread()
        b.stop_thread()

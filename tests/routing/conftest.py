"""Routing fixtures: a hand-moved clock and the real Redis (required under CI=true, never skipped there)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.routing.support import FakeClock
from tests.support.required import unavailable

REDIS_URL = os.environ.get("ADAPTIVE_GATEWAY_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _reachable(url: str) -> str | None:
    client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        return str(exc)
    finally:
        await client.aclose()
    return None


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[str, str]]:
    """(url, unique key prefix) of the real Redis; its keys are deleted afterwards. A missing Redis
    fails the test under CI=true and skips it elsewhere."""
    problem = await _reachable(REDIS_URL)
    if problem is not None:
        unavailable(f"Redis at {REDIS_URL}", problem)
    prefix = f"agw-test:{uuid.uuid4().hex[:12]}:"
    yield REDIS_URL, prefix
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def wait_until(cond: object, timeout: float = 5.0) -> None:
    """Poll a condition (a callable returning bool) until true; fail after ``timeout``."""
    assert callable(cond)
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)

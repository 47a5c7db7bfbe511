"""Real PostgreSQL and Redis for tests: a fresh database / key prefix per test, dropped afterwards.

When a service is not reachable the test is skipped locally, and FAILS under ``CI=true``.
Override the servers with ``AGW_TEST_PG`` (a libpq URL on the maintenance database) and
``AGW_TEST_REDIS``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest
import redis

from tests.support.required import unavailable

PG_ADMIN = os.environ.get("AGW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("AGW_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN.rpartition("/")
    return f"{base}/{database}"


async def _pg_async(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg(sql: str) -> None:
    """Run one statement on the maintenance database (in a thread: callers may be inside a loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _pg_async(sql)).result()


def create_pg_database() -> str:
    """A new, empty database; returns its URL."""
    name = "agw_t_" + uuid.uuid4().hex[:12]
    try:
        _pg(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unavailable("PostgreSQL", exc)
    return _pg_url(name)


def drop_pg_database(url: str) -> None:
    name = url.rpartition("/")[2]
    _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test."""
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


def redis_prefix_or_skip() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    finally:
        client.close()
    return f"agwt:{uuid.uuid4().hex[:12]}:"


def clear_redis_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix unique to this test (its keys are deleted afterwards)."""
    prefix = redis_prefix_or_skip()
    try:
        yield prefix
    finally:
        clear_redis_prefix(prefix)

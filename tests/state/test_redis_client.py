"""The pipelined RESP client and the Redis fallback: real Redis, and a port where nothing listens."""

from __future__ import annotations

import asyncio
import logging

import pytest

from adaptive_gateway.state import AdmitPlan, StateUnavailable, WindowOp, make_counters
from adaptive_gateway.state.fallback import ResilientCounters
from adaptive_gateway.state.redis import RedisCounters
from adaptive_gateway.state.resp import RespClient, RespError, encode
from tests.store.backends import REDIS_URL
from tests.support.gateway import free_port


def dead_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def test_encode_is_resp_arrays() -> None:
    assert encode(("SET", "k", 1)) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n"


async def test_commands_pipelines_and_errors(redis_prefix: str) -> None:
    client = RespClient(REDIS_URL)
    try:
        key = redis_prefix + "x"
        assert await client.execute("SET", key, "héllo") == "OK"
        assert await client.execute("GET", key) == "héllo".encode()
        replies = await client.pipeline([("INCR", key + "n"), ("INCR", key + "n"), ("HGETALL", key + "none")])
        assert replies == [1, 2, []]
        with pytest.raises(RespError):
            await client.execute("INCR", key)  # not an integer
        results = await asyncio.gather(*[client.execute("INCR", key + "c") for _ in range(200)])
        assert sorted(results) == list(range(1, 201))
        assert await client.execute("GET", key + "missing") is None
    finally:
        await client.close()


async def test_scripts_survive_a_script_flush(redis_prefix: str) -> None:
    client = RespClient(REDIS_URL)
    try:
        sha = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        assert await client.evalsha(sha, [redis_prefix + "s"], [5]) == 5
        await client.execute("SCRIPT", "FLUSH")
        assert await client.evalsha(sha, [redis_prefix + "s"], [5]) == 10
    finally:
        await client.close()


async def test_unreachable_redis_raises_state_unavailable() -> None:
    client = RespClient(dead_url(), timeout=0.5)
    with pytest.raises(StateUnavailable):
        await client.execute("PING")
    with pytest.raises(StateUnavailable, match="retrying"):
        await client.execute("PING")  # no reconnect storm: fails fast until the retry interval passes
    await client.close()


async def test_fallback_to_local_limits_is_logged_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    counters = make_counters(dead_url(), "agwt:")
    assert isinstance(counters, ResilientCounters)
    counters.primary.client.timeout = 0.5
    op = WindowOp("w:k:f:r", 2, 1)
    with caplog.at_level(logging.WARNING, logger="adaptive_gateway.state"):
        results = [await counters.admit(AdmitPlan(f"r{i}", 60, [op])) for i in range(3)]
    assert [r.ok for r in results] == [True, True, False], "local limits still apply"
    assert all(r.backend == "memory" for r in results)
    assert sum("falling back to local" in r.message for r in caplog.records) == 1
    ok, detail = await counters.ping()
    assert ok and "degraded" in detail and "local limits" in detail and "3 admission" in detail
    await counters.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def start_proxy(port: int) -> asyncio.Server:
    """A TCP forwarder on ``port`` to the real Redis: "Redis comes back"."""
    host, _, rport = REDIS_URL.split("//")[1].split("/")[0].partition(":")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(rport or 6379))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    return await asyncio.start_server(handle, "127.0.0.1", port)


async def test_recovers_when_redis_comes_back(redis_prefix: str) -> None:
    recovered = asyncio.Event()

    async def on_recover() -> None:
        recovered.set()

    url = dead_url()
    primary = RedisCounters(url, redis_prefix, timeout=0.5)
    primary.client.retry_seconds = 0.05
    counters = ResilientCounters(primary, probe_seconds=0.1, on_recover=on_recover)
    assert (await counters.admit(AdmitPlan("a", 60, [WindowOp("w:x", 5, 1)]))).backend == "memory"
    proxy = await start_proxy(int(url.rsplit(":", 1)[1].split("/")[0]))
    try:
        await asyncio.wait_for(recovered.wait(), 5)
        res = await counters.admit(AdmitPlan("b", 60, [WindowOp("w:x", 5, 1)]))
        assert res.backend == "redis" and res.ok and res.remaining == [4]
        ok, detail = await counters.ping()
        assert ok and detail.startswith("redis at")
    finally:
        await counters.close()
        proxy.close()

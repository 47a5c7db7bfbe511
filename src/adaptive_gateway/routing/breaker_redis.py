"""Circuit breakers shared by every worker and replica through Redis (``state.redis_url``).

The hot path never waits on Redis: requests read the local mirror of each breaker (the router's board).
Failures, and successes while a breaker is not fully closed, are sent to one Lua script
(``lua/breaker.lua``) without waiting; it applies the transition atomically, publishes it, and every
process mirrors it from its subscription. A background poll re-reads every known breaker in case a
message was missed. Claiming the half-open probe is the only awaited call, made only when a local
breaker says a probe is due. When Redis cannot be reached, each process keeps deciding alone.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from adaptive_gateway.config import Deployment
from adaptive_gateway.routing.health import Board

log = logging.getLogger("adaptive_gateway.routing")
PROBE_RECHECK = 1.0  # seconds before asking Redis again after another process got the probe


def _lua() -> str:
    return (resources.files("adaptive_gateway.routing") / "lua" / "breaker.lua").read_text(encoding="utf-8")


def _fields(raw: str) -> tuple[int, int, int, float, int]:
    st, f, s, ou, v = raw.split("|")
    return int(st), int(f), int(s), float(ou), int(v)


class RedisBreakers:
    """:class:`~adaptive_gateway.routing.router.SharedBreakers` in Redis, mirrored into ``board``."""

    def __init__(
        self, url: str, prefix: str, board: Board, poll_seconds: float = 1.0, timeout: float = 0.5
    ) -> None:
        self.redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        # the subscription blocks on reads: no socket timeout, a periodic health check instead
        self.sub_redis = Redis.from_url(url, socket_connect_timeout=timeout, health_check_interval=15)
        self.script = self.redis.register_script(_lua())
        self.keys = prefix + "breaker:"
        self.channel = prefix + "breakers"
        self.board = board
        self.poll_seconds = poll_seconds
        self.tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()
        self._pubsub: Any = None
        self._closed = False
        self.errors = 0
        self.last_error = ""
        self.retry_at = 0.0  # after an error, Redis is left alone until then (loop time)

    async def start(self) -> None:
        """Subscribe and start polling; returns once subscribed (or after one failed try)."""
        self._loops = [asyncio.create_task(self._listen()), asyncio.create_task(self._poll())]
        with suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), 2.0)

    async def close(self) -> None:
        self._closed = True
        for task in self._loops:
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=1.0)
        if self._loops:
            # redis-py 8.2 can swallow a cancellation that lands while subscribing (1 close in 7 within
            # 4 ms of start): the task, "cancelling", goes on into PubSub.listen() and blocks on a read
            # that never ends. Closing the subscription's socket ends the read, and the loop sees _closed.
            _, pending = await asyncio.wait(self._loops, timeout=0.25)
            if pending and self._pubsub is not None and self._pubsub.connection is not None:
                with suppress(RedisError, OSError):
                    await self._pubsub.connection.disconnect(nowait=True)
                await asyncio.wait(pending, timeout=2.0)
            for task in self._loops:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: RedisError/OSError on the way out is expected
        await self.redis.aclose()
        await self.sub_redis.aclose()

    async def ping(self) -> tuple[bool, str]:
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            return False, f"redis unreachable: {exc}"
        return True, "shared through redis" + ("" if self.subscribed.is_set() else " (not subscribed)")

    # ---- transitions ------------------------------------------------------------------------------------

    def _spawn(self, *args: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._run(*args))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def failure(self, dep: Deployment, now: float, u: float, rate_tripped: bool) -> None:
        p = dep.breaker
        self._spawn(dep, "fail", now, p.failure_threshold, p.open_seconds, p.jitter, u, int(rate_tripped))

    def success(self, dep: Deployment, now: float) -> None:
        self._spawn(dep, "ok", now, dep.breaker.close_after)

    def release(self, dep: Deployment) -> None:
        self._spawn(dep, "release", 0.0)

    async def take_probe(self, dep: Deployment, now: float) -> bool | None:
        """True: this process got the half-open probe; None: Redis unreachable (decide locally)."""
        granted = await self._run(dep, "probe", now, dep.breaker.probe_timeout)
        if granted is None:
            return None
        br = self.board.state(dep).breaker
        br.probe_until = now + (dep.breaker.probe_timeout if granted else PROBE_RECHECK)
        return granted

    async def _run(self, dep: Deployment, op: str, now: float, *extra: Any) -> bool | None:
        if asyncio.get_running_loop().time() < self.retry_at:
            return None  # known to be down: decide locally without waiting on a connect timeout
        ttl = int(max(dep.breaker.open_seconds * 4, 3600))
        args = [op, repr(now), self.channel, dep.id, ttl, *extra]
        try:
            reply = await self.script(keys=[self.keys + dep.id], args=args)
        except (RedisError, OSError) as exc:
            self._error(exc)
            return None
        granted, state = bytes(reply).decode().split("|", 1)
        self.board.state(dep).breaker.apply(*_fields(state))
        return granted == "1"

    def _error(self, exc: BaseException) -> None:
        self.retry_at = asyncio.get_running_loop().time() + self.poll_seconds
        self.errors += 1
        if self.last_error != str(exc):
            log.warning("shared breakers: redis unavailable, deciding locally: %s", exc)
        self.last_error = str(exc)

    # ---- mirroring --------------------------------------------------------------------------------------

    def _mirror(self, dep_id: str, state: str) -> None:
        self.board.by_id(dep_id).breaker.apply(*_fields(state))

    async def _listen(self) -> None:
        while not self._closed:
            pubsub = self._pubsub = self.sub_redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                async for msg in pubsub.listen():
                    dep_id, *state = msg["data"].decode().rsplit("|", 5)  # ids may contain "|"
                    self._mirror(dep_id, "|".join(state))
            except (RedisError, OSError, ValueError) as exc:
                self.subscribed.clear()
                if self._closed:
                    return
                self._error(exc)
                await asyncio.sleep(self.poll_seconds)
            finally:
                with suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            ids = list(self.board.states)
            if not ids:
                continue
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for dep_id in ids:
                        pipe.hmget(self.keys + dep_id, "st", "f", "s", "ou", "v")
                    rows = await pipe.execute()
            except (RedisError, OSError) as exc:
                self._error(exc)
                continue
            self.retry_at = 0.0
            for dep_id, row in zip(ids, rows, strict=True):
                if row[0] is not None:
                    self._mirror(dep_id, "|".join(x.decode() if x is not None else "0" for x in row))

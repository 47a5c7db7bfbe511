"""A gateway with the accounts extension on a given store / Redis, and admin API shortcuts."""

from __future__ import annotations

import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from adaptive_gateway.accounts.admission import Admission
from adaptive_gateway.accounts.runtime import Accounts
from tests.support.gateway import MASTER_KEY, GatewayThread, openai_config
from tests.support.wait import eventually

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
# one pooled client for the whole test process: a new httpx client per call costs ~30 ms
HTTP = httpx.Client(timeout=10)
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hello there"}]}


def config(
    upstream: str,
    *,
    store_url: str | None = None,
    redis_prefix: str | None = None,
    refresh: float = 0.25,
    flush: float = 0.1,
    extra: str = "",
) -> str:
    """The standard test config (model ``gpt-test`` at $1 / $2 per million tokens) plus accounts settings."""
    store = (
        f'store: {{url: "{store_url}", flush_interval_seconds: {flush}}}'
        if store_url
        else (f"store: {{flush_interval_seconds: {flush}}}")
    )
    state = f"state: {{key_refresh_seconds: {refresh}"
    if redis_prefix:
        state += f', redis_url: "redis://127.0.0.1:6379/0", redis_prefix: "{redis_prefix}"'
    state += "}"
    return openai_config(upstream, extra=f"{store}\n{state}\n{extra}")


def accounts_of(gw: GatewayThread) -> Accounts:
    """The accounts runtime of a running in-process gateway."""
    return next(s.acc for s in gw.app.gateway.stages if isinstance(s, Admission))


def create_key(gw_url: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("name", "test key")
    resp = HTTP.post(gw_url + "/api/keys", headers=ADMIN, json=spec)
    assert resp.status_code == 201, resp.text
    return resp.json()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def unique_chat(**body: Any) -> dict[str, Any]:
    """A chat body no response cache has seen."""
    content = f"hello there ({uuid.uuid4().hex[:12]})"
    return {**CHAT, "messages": [{"role": "user", "content": content}], **body}


def load(urls: list[str], key: str, n: int, **body: Any) -> list[httpx.Response]:
    """``n`` chat requests spread over ``urls``, 32 at a time."""
    targets = list(itertools.islice(itertools.cycle(urls), n))

    def one(url: str) -> httpx.Response:
        return client.post(url + "/v1/chat/completions", headers=bearer(key), json=unique_chat(**body))

    # a client of its own: the shared one's pool carries connections of gateways earlier tests stopped
    limits = httpx.Limits(max_connections=32)
    with httpx.Client(timeout=10, limits=limits) as client, ThreadPoolExecutor(32) as pool:
        return list(pool.map(one, targets))


def chat(gw_url: str, key: str, **body: Any) -> httpx.Response:
    return HTTP.post(gw_url + "/v1/chat/completions", headers=bearer(key), json=unique_chat(**body))


def flushed(gw: GatewayThread, rows: int) -> None:
    """Wait until ``rows`` usage rows (in all, since the gateway started) are written.

    The finisher runs after the response is sent, so "the client has its answer" does not yet mean
    "the row is queued"."""
    acc = accounts_of(gw)
    done = eventually(lambda: acc.queue is not None and acc.queue.written >= rows and acc.queue.idle)
    assert done, f"write-behind wrote {acc.queue.written if acc.queue else 0} of {rows} row(s)"


def written(gw: GatewayThread) -> int:
    queue = accounts_of(gw).queue
    return queue.written if queue is not None else 0


def query(store_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one SQL query against a store, from any thread (with or without a running loop)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import text

    from adaptive_gateway.store.db import Store

    async def run() -> list[tuple[Any, ...]]:
        store = Store(store_url)
        try:
            async with store.engine.connect() as conn:
                return [tuple(r) for r in (await conn.execute(text(sql))).all()]
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()

"""The semantic index on disk: a restart keeps semantic hits (vectors and answers under the gateway
home), expired rows are neither loaded nor served, purges and the trust rules reach the disk. The
store itself is exercised directly too (batched writes, the size bound, expiry, purges)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from adaptive_gateway.cache.entry import Entry, Selector
from adaptive_gateway.cache.semantic_store import FILE, SemanticRow, SemanticStore
from adaptive_gateway.config import gateway_home
from adaptive_gateway.embedded.availability import missing_embedder_packages
from adaptive_gateway.fakes.server import FakeUpstream
from tests.cache.support import ADMIN, HTTP, Clock, cache_of, chat, config, text_of
from tests.cache.test_semantic import PARAPHRASE, QUESTION, ask, indexed
from tests.support.gateway import GatewayThread
from tests.support.required import unavailable

ANSWER = "Use reversed(items) or items[::-1]."
SEMANTIC = "{semantic: {models: [gpt-test]}}"


@pytest.fixture
def embedder() -> None:
    missing = missing_embedder_packages()
    if missing:
        unavailable("the MiniLM embedder", f"needs {', '.join(missing)}")


def first_answer(fake: FakeUpstream, text: str, tmp_path: Path, clock: Clock | None = None) -> None:
    """One gateway answers QUESTION from upstream, indexes it, and stops (flushing the disk)."""
    fake.knobs.text = ANSWER
    with GatewayThread(text, tmp_path) as gw:
        if clock is not None:
            cache_of(gw).clock = clock
        assert chat(gw, messages=ask(QUESTION)).headers["x-cache"] == "miss"
        indexed(gw, 1)
    fake.knobs.text = "an answer from upstream"


@pytest.mark.usefixtures("embedder")
def test_a_restart_keeps_semantic_hits(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    text = config(fake_openai.url, cache=SEMANTIC)
    first_answer(fake_openai, text, tmp_path)
    assert (gateway_home() / FILE).exists()
    with GatewayThread(text, tmp_path) as gw:
        cache = cache_of(gw)
        assert len(cache.semantic) == 1 and len(cache.local) == 0  # loaded at start, answer on disk
        para = chat(gw, messages=ask(PARAPHRASE))
        assert para.headers["x-cache"] == "semantic" and text_of(para) == ANSWER
        assert len(cache.local) == 1  # put back in process
        other_key = HTTP.post(gw.url + "/api/keys", headers=ADMIN, json={"name": "other"}).json()["key"]
        assert chat(gw, other_key, messages=ask(PARAPHRASE)).headers["x-cache"] == "miss"  # another scope
        purged = HTTP.delete(gw.url + "/api/cache", params={"model": "gpt-test"}, headers=ADMIN)
        assert purged.status_code == 200
    assert len(fake_openai.received) == 2
    with GatewayThread(text, tmp_path) as gw:
        assert len(cache_of(gw).semantic) == 0  # the purge reached the disk
        assert chat(gw, messages=ask(PARAPHRASE)).headers["x-cache"] == "miss"


@pytest.mark.usefixtures("embedder")
def test_expired_rows_are_not_loaded(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    text = config(fake_openai.url, cache=SEMANTIC)
    first_answer(fake_openai, text, tmp_path, Clock(time.time() - 86_400))  # a day ago, ttl 1 h
    with GatewayThread(text, tmp_path) as gw:
        assert len(cache_of(gw).semantic) == 0
        para = chat(gw, messages=ask(PARAPHRASE))
        assert para.headers["x-cache"] == "miss" and text_of(para) == "an answer from upstream"


@pytest.mark.usefixtures("embedder")
def test_an_answer_that_expired_after_loading_is_not_served(
    fake_openai: FakeUpstream, tmp_path: Path
) -> None:
    text = config(fake_openai.url, cache=SEMANTIC)
    first_answer(fake_openai, text, tmp_path)
    with GatewayThread(text, tmp_path) as gw:
        cache = cache_of(gw)
        assert len(cache.semantic) == 1
        clock = Clock()
        clock.now = cache.clock() + 3601  # past the default ttl of an hour
        cache.clock = clock
        para = chat(gw, messages=ask(PARAPHRASE))
        assert para.headers["x-cache"] == "miss" and text_of(para) == "an answer from upstream"


@pytest.mark.usefixtures("embedder")
def test_local_only_levels_never_reach_the_disk(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    text = config(fake_openai.url, cache="{local_max_trust: confidential, semantic: {models: [gpt-test]}}")
    confidential = {"x-trust-level": "confidential"}
    fake_openai.knobs.text = ANSWER
    with GatewayThread(text, tmp_path) as gw:
        assert chat(gw, headers=confidential, messages=ask(QUESTION)).headers["x-cache"] == "miss"
        indexed(gw, 1)
        assert chat(gw, headers=confidential, messages=ask(PARAPHRASE)).headers["x-cache"] == "semantic"
    with GatewayThread(text, tmp_path) as gw:
        assert len(cache_of(gw).semantic) == 0
        assert chat(gw, headers=confidential, messages=ask(PARAPHRASE)).headers["x-cache"] == "miss"


# ---- the store alone ---------------------------------------------------------------------------------


def row(key: str, created: float, expires: float, model: str = "m", scope: str = "s") -> SemanticRow:
    vector = np.full(384, 1 / np.sqrt(384), np.float32).tobytes()
    return SemanticRow(key, "bucket", model, scope, vector, created, expires)


def entry(r: SemanticRow) -> bytes:
    return Entry(r.key, r.model, r.scope, b'{"answer": 1}', r.created, r.expires, 0.001).to_bytes()


async def test_store_batches_bounds_expires_and_purges(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    store = SemanticStore(tmp_path / FILE, max_entries=3, clock=clock, flush_seconds=0.01)
    rows = [row(f"k{i}", 1000.0 + i, 2000.0) for i in range(4)] + [row("old", 990.0, 1500.0, model="n")]
    for r in rows:
        store.add(r, entry(r))
    pending = await store.entry("k0")  # not flushed yet: served from the queue
    assert pending is not None and pending.body == b'{"answer": 1}'
    for _ in range(100):  # the batch is written by one timed flush
        await asyncio.sleep(0.01)
        if await store.load():
            break
    assert [r.key for r in await store.load()] == ["k1", "k2", "k3"]  # the newest 3, oldest first
    assert await store.entry("k0") is None  # beyond max_entries
    clock.now = 2000.0
    assert await store.entry("k3") is None  # expired
    clock.now = 1001.0
    assert await store.purge(Selector(key="k2")) == 1
    assert [r.key for r in await store.load()] == ["k1", "k3"]
    await store.set_meta("purge_cursor", "5-0")
    assert await store.get_meta("purge_cursor") == "5-0"
    await store.close()
    reopened = SemanticStore(tmp_path / FILE, max_entries=3, clock=clock)
    clock.now = 2000.0
    assert await reopened.load() == []  # expired rows are deleted when loading
    await reopened.close()

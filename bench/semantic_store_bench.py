"""What keeping the semantic index on disk and in Redis costs (cache/semantic_sync.py), next to the
lookup itself (bench/cache_bench.py): none of it is on the request path, so these are background and
startup costs.

* the loop side of indexing one answer (queue the row for the disk; with Redis, the XADD);
* the disk writer: rows per batch transaction on the store's thread;
* a start: 20,000 persisted rows read and indexed;
* an answer read back from the disk (a semantic match whose entry is in neither tier);
* with Redis on 127.0.0.1:6379: another replica pulling 20,000 rows, and the lag of one new row.

    .venv/bin/python bench/semantic_store_bench.py      # ROWS=20000
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from adaptive_gateway.cache.entry import Entry
from adaptive_gateway.cache.semantic import SemanticIndex
from adaptive_gateway.cache.semantic_shared import SharedSemantic
from adaptive_gateway.cache.semantic_store import FILE, SemanticStore
from adaptive_gateway.cache.semantic_sync import SemanticSync
from adaptive_gateway.cache.shared import SharedTier

ROWS = int(os.environ.get("ROWS", "20000"))
REDIS = os.environ.get("AGW_TEST_REDIS", "redis://127.0.0.1:6379/0")
BODY = b'{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"' + b"a" * 400
BODY += b'"},"finish_reason":"stop"}]}'


def show(label: str, value: str) -> None:
    print(f"{label:56} {value}", flush=True)


def vectors(n: int) -> np.ndarray:
    vecs = np.random.default_rng(1).standard_normal((n, 384)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def entries(n: int, now: float) -> list[Entry]:
    return [Entry(uuid.uuid4().hex, "m", f"tenant:t{i % 10}", BODY, now, now + 3600, 0.001) for i in range(n)]


async def disk(home: Path, vecs: np.ndarray) -> None:
    now = time.time()
    sync = SemanticSync(SemanticIndex(ROWS), SemanticStore(home / FILE, ROWS, time.time), None, time.time, 1)
    assert sync.store is not None
    items = entries(len(vecs), now)
    t0 = time.thread_time()
    for e, v in zip(items, vecs, strict=True):
        await sync.kept("bucket-" + e.scope, v, e, True)
    loop_us = (time.thread_time() - t0) / len(items) * 1e6
    t0 = time.perf_counter()
    await sync.store.flush()  # one batch of every row
    write_us = (time.perf_counter() - t0) / len(items) * 1e6
    show("index an answer, loop side (queue the row for the disk)", f"{loop_us:8.1f} µs CPU/row")
    show(f"disk write, one transaction of {len(items):,} rows", f"{write_us:8.1f} µs wall/row")
    t0 = time.perf_counter()
    for e in items[:1000]:
        assert await sync.answer(e.key) is not None
    show(
        "answer read back from the disk (thread hop, SELECT)",
        f"{(time.perf_counter() - t0) * 1000:8.1f} µs wall",
    )
    await sync.close()

    index = SemanticIndex(ROWS)
    fresh = SemanticSync(index, SemanticStore(home / FILE, ROWS, time.time), None, time.time, 1)
    t0, c0 = time.perf_counter(), time.thread_time()
    await fresh.start()
    wall, cpu = (time.perf_counter() - t0) * 1000, (time.thread_time() - c0) * 1000
    show(f"start: {len(index):,} rows read and indexed", f"{wall:8.1f} ms wall, {cpu:.1f} ms loop CPU")
    await fresh.close()


async def shared(vecs: np.ndarray) -> None:
    prefix = f"agwbench:{uuid.uuid4().hex[:8]}:"
    writer_tier, reader_tier = SharedTier(REDIS, prefix, timeout=5), SharedTier(REDIS, prefix, timeout=5)
    try:
        ok, where = await writer_tier.ping()
        if not ok:
            print(f"(no Redis: {where})")
            return
        writer = SemanticSync(SemanticIndex(ROWS), None, SharedSemantic(writer_tier, ROWS, "w"), time.time, 1)
        items = entries(len(vecs), time.time())
        t0, c0 = time.perf_counter(), time.thread_time()
        await asyncio.gather(*[writer.kept("b", v, e, True) for e, v in zip(items, vecs, strict=True)])
        wall = (time.perf_counter() - t0) / len(items) * 1e6
        cpu = (time.thread_time() - c0) / len(items) * 1e6
        show("publish (XADD, pipelined)", f"{cpu:8.1f} µs loop CPU/row ({wall:.1f} wall)")
        index = SemanticIndex(ROWS)
        reader = SemanticSync(index, None, SharedSemantic(reader_tier, ROWS, "r"), time.time, 0.05)
        t0, c0 = time.perf_counter(), time.thread_time()
        await reader.start()
        wall, cpu = (time.perf_counter() - t0) * 1000, (time.thread_time() - c0) * 1000
        show(
            f"another replica starts: {len(index):,} rows pulled",
            f"{wall:8.1f} ms wall, {cpu:.1f} ms loop CPU",
        )
        lags = []
        for e, v in zip(entries(20, time.time()), vecs[:20], strict=True):
            t0 = time.perf_counter()
            await writer.kept("lag", v, e, True)
            while index.snapshot("lag") is None or e.key not in index.snapshot("lag")[0]:
                await asyncio.sleep(0.002)
            lags.append((time.perf_counter() - t0) * 1000)
        show("lag of a new row (sync_seconds 0.05)", f"{np.median(lags):8.1f} ms median")
        await reader.close()
        await writer_tier.client.execute("DEL", prefix + "cache:semantic")
    finally:
        await writer_tier.close()
        await reader_tier.close()


async def main() -> None:
    vecs = vectors(ROWS)
    await disk(Path(tempfile.mkdtemp(prefix="agw-semantic-bench-")), vecs)
    await shared(vecs)


if __name__ == "__main__":
    asyncio.run(main())

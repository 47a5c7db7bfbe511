"""Recordings in the store, on SQLite and PostgreSQL: batched writes, filters, retention by age and by
count, the keys' record flags, and a writer that keeps its rows while the store is down."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from adaptive_gateway.store import migrate
from adaptive_gateway.store.db import Store
from adaptive_gateway.store.models import Recording, VirtualKey, utcnow
from adaptive_gateway.store.recordings import (
    RecordingWriter,
    get_recording,
    list_recordings,
    prune_recordings,
    record_flags,
)


def row(n: int, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "request_id": f"req_{n}",
        "receipt_id": f"rc_{n}",
        "created_at": utcnow(),
        "key_id": "key_a",
        "key_prefix": "sk-agw-aaaa",
        "tenant_id": "t1",
        "model": "gpt",
        "provider": "fake",
        "deployment": "gpt#0:fake/up",
        "route": "openai_chat",
        "status": 200,
        "stream": False,
        "trust_level": "public",
        "trace_id": None,
        "input_tokens": 3,
        "output_tokens": 5,
        "cost_nano": 1_500,
        "latency_ms": 12.5,
        "messages": [{"role": "user", "text": f"prompt {n}"}],
        "response": f"answer {n}",
        "redacted": None,
        "error": None,
    }
    return base | kw


async def count(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(Recording))).scalar() or 0)


async def test_writer_batches_and_queries_filter(migrated: Store) -> None:
    writer = RecordingWriter(migrated, interval=60)
    writer.add(row(1))
    writer.add(row(2, key_id="key_b", key_prefix="sk-agw-bbbb", model="other", tenant_id="t2"))
    writer.add(
        row(3, created_at=utcnow() - dt.timedelta(hours=2), messages=[{"role": "user", "text": "a\x00b"}])
    )
    assert await count(migrated) == 0  # nothing written until the batch goes out
    assert await writer.flush() and writer.written == 3
    async with migrated.engine.connect() as conn:
        every = await list_recordings(conn, {}, 10)
        assert [r["request_id"] for r in every] == ["req_3", "req_2", "req_1"]  # newest first
        assert "messages" not in every[0] and every[0]["preview"] == "ab"  # NUL dropped (PostgreSQL)
        assert every[1]["cost_usd"] == 1.5e-6 and every[1]["created_at"].endswith("Z")
        by_prefix = await list_recordings(conn, {"key": "sk-agw-bbbb"}, 10)
        assert [r["request_id"] for r in by_prefix] == ["req_2"]
        assert [r["request_id"] for r in await list_recordings(conn, {"key": "key_a"}, 10)] == [
            "req_3",
            "req_1",
        ]
        assert [r["request_id"] for r in await list_recordings(conn, {"model": "other"}, 10)] == ["req_2"]
        recent = await list_recordings(conn, {"from": utcnow() - dt.timedelta(hours=1)}, 10)
        assert [r["request_id"] for r in recent] == ["req_2", "req_1"]
        old = await list_recordings(conn, {"to": utcnow() - dt.timedelta(hours=1)}, 10)
        assert [r["request_id"] for r in old] == ["req_3"]
        assert len(await list_recordings(conn, {}, 1)) == 1
        one = await get_recording(conn, "req_1", {})
        assert one is not None and one["messages"] == [{"role": "user", "text": "prompt 1"}]
        assert one["response"] == "answer 1" and one["receipt_id"] == "rc_1"
        assert await get_recording(conn, "req_2", {"tenant": "t1"}) is None  # another tenant's
        assert await get_recording(conn, "req_1", {"key_id": "key_b"}) is None  # another key's


async def test_a_reused_request_id_finds_the_newest(migrated: Store) -> None:
    writer = RecordingWriter(migrated)
    writer.add(row(1, response="first"))
    writer.add(row(1, response="second"))
    await writer.flush()
    async with migrated.engine.connect() as conn:
        found = await get_recording(conn, "req_1", {})
    assert found is not None and found["response"] == "second"


async def test_prune_by_age_then_by_count(migrated: Store) -> None:
    old = utcnow() - dt.timedelta(days=40)
    async with migrated.engine.begin() as conn:
        await conn.execute(insert(Recording), [row(i, created_at=old) for i in range(3)])
        await conn.execute(insert(Recording), [row(i) for i in range(10, 15)])
    async with migrated.engine.begin() as conn:
        assert await prune_recordings(conn, utcnow() - dt.timedelta(days=30), None) == 3
    async with migrated.engine.begin() as conn:
        assert await prune_recordings(conn, utcnow() - dt.timedelta(days=30), 2) == 3
    async with migrated.engine.connect() as conn:
        kept = [r["request_id"] for r in await list_recordings(conn, {}, 10)]
    assert kept == ["req_14", "req_13"]  # the newest two
    async with migrated.engine.begin() as conn:
        assert await prune_recordings(conn, utcnow() - dt.timedelta(days=30), 2) == 0


async def test_record_flags_from_key_metadata(migrated: Store) -> None:
    def key(kid: str, meta: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        return {"id": kid, "name": kid, "key_hash": "h" + kid, "prefix": "p", "meta": meta,
                "budget_hard": True, "created_by": "", "created_at": now, "updated_at": now}  # fmt: skip

    async with migrated.engine.begin() as conn:
        await conn.execute(
            insert(VirtualKey),
            [
                key("k1", {"record": True}),
                key("k2", {"record": False}),
                key("k3", {"record": "yes"}),
                key("k4", {}),
            ],
        )
    async with migrated.engine.connect() as conn:
        assert await record_flags(conn) == {"k1": True, "k2": False}


async def test_writer_keeps_rows_while_the_store_is_down(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'gw.db'}")  # not migrated yet: inserts fail
    try:
        writer = RecordingWriter(store, max_buffer=3)
        for i in range(4):
            writer.add(row(i))
        assert writer.dropped == 1 and len(writer.rows) == 3  # the oldest went first
        assert not await writer.flush()
        assert len(writer.rows) == 3 and writer.last_error
        await migrate.upgrade(store)
        writer.start()
        await writer.stop()  # writes what is left
        assert await count(store) == 3 and writer.last_error is None
    finally:
        await store.close()

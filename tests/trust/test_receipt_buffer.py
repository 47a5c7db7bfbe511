"""Receipt lines wait for the writer in one buffer per day file (server/trust_runtime.py): each lands in
its day's file once, in order, including lines queued while a batch is being written; a writer that
falls behind drops (and counts) instead of holding unbounded memory."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from adaptive_gateway.config import compile_config, parse_config
from adaptive_gateway.server import trust_runtime
from adaptive_gateway.server.trust_runtime import TrustRuntime


def runtime(home: Path) -> TrustRuntime:
    config = compile_config(parse_config("{}", {}), {})
    return TrustRuntime(home, lambda: config)


def lines(home: Path, day: str) -> list[str]:
    path = home / "receipts" / f"{day}.jsonl"
    return [orjson.loads(line)["id"] for line in path.read_bytes().splitlines()]


async def test_lines_go_to_their_day_files_in_order(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    ids = [
        "rc_20251207T235959_000000a1",
        "rc_20251208T000000_000000b1",
        "rc_20251207T235959_000000a2",
        "rc_20251208T000001_000000b2",
    ]
    for rid in ids:
        rt._queue_line(rid, orjson.dumps({"id": rid}))
    await rt.writer.flush()
    assert lines(tmp_path, "2025-12-07") == ["rc_20251207T235959_000000a1", "rc_20251207T235959_000000a2"]
    assert lines(tmp_path, "2025-12-08") == ["rc_20251208T000000_000000b1", "rc_20251208T000001_000000b2"]
    assert (tmp_path / "receipts" / "2025-12-07.jsonl").stat().st_mode & 0o777 == 0o600


async def test_lines_queued_after_a_batch_was_taken_are_not_lost_or_doubled(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    rt._queue_line("rc_20251207T100000_00000001", b'{"id":"rc_20251207T100000_00000001"}')
    taken = rt.writer._take()  # as the writer does before handing the batch to its thread
    rt._write(taken)
    # after the take the buffer is the writer's: a new line opens a new one (appended to the taken
    # buffer it would never be written)
    rt._queue_line("rc_20251207T100000_00000002", b'{"id":"rc_20251207T100000_00000002"}')
    await rt.writer.flush()
    assert lines(tmp_path, "2025-12-07") == ["rc_20251207T100000_00000001", "rc_20251207T100000_00000002"]


async def test_a_writer_far_behind_drops_and_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trust_runtime, "MAX_OPEN_BYTES", 100)
    rt = runtime(tmp_path)
    for i in range(10):
        rid = f"rc_20251207T100000_{i:08x}"
        rt._queue_line(rid, orjson.dumps({"id": rid, "pad": "x" * 20}))
    assert rt.writer.dropped == 8  # two lines of 62 bytes take the buffer past 100
    await rt.writer.flush()
    assert lines(tmp_path, "2025-12-07") == [f"rc_20251207T100000_{i:08x}" for i in range(2)]

"""Shared-memory items as context sources: the per-key record of items handed out over MCP, the level
lookup of items named without a level, and how the stage's source parsing uses them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from adaptive_gateway.errors import InvalidRequest
from adaptive_gateway.pipeline.context import Principal
from adaptive_gateway.trust.levels import TrustLevel
from adaptive_gateway.trust.memory_sources import MemoryReads, principal_key, source_name
from adaptive_gateway.trust.stage import SOURCES_NOTE, context_sources, unlabelled_memory

ALICE = Principal("key_alice", "virtual", "sk-a…")
BOB = Principal("key_bob", "virtual", "sk-b…")
C, INT, P, S = TrustLevel.CONFIDENTIAL, TrustLevel.INTERNAL, TrustLevel.PUBLIC, TrustLevel.SECRET


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_names_and_keys() -> None:
    assert source_name("q3") == "memory:q3" and source_name("q3", "team") == "memory:team/q3"
    assert principal_key(ALICE) == "virtual:key_alice" and principal_key(None) is None


def test_reads_count_per_key_until_they_expire() -> None:
    clock = Clock()
    reads = MemoryReads(clock)
    reads.handed_out(ALICE, [("memory:q3", "confidential"), ("memory:readme", "public")])
    assert reads.recent(ALICE, 1800) == {"memory:q3": C, "memory:readme": P}
    assert reads.recent(BOB, 1800) == {}  # one key's reads never raise another's
    assert reads.recent(ALICE, 0) == {}  # ttl 0: reads do not count
    clock.now += 1000
    reads.handed_out(ALICE, [("memory:readme", "public")])  # read again: its clock restarts
    clock.now += 1000
    assert reads.recent(ALICE, 1800) == {"memory:readme": P}  # q3 was read 2000 s ago
    clock.now += 2000
    assert reads.recent(ALICE, 1800) == {} and reads._reads == {}
    reads.handed_out(None, [("memory:q3", "secret")])  # no principal, nothing to key it by
    assert reads._reads == {}


def test_a_full_record_lets_the_least_sensitive_go_first() -> None:
    clock = Clock()
    reads = MemoryReads(clock, max_items=3, max_keys=2)
    reads.handed_out(ALICE, [("memory:s", "secret"), ("memory:c", "confidential")])
    clock.now += 1
    reads.handed_out(ALICE, [("memory:p1", "public"), ("memory:i", "internal"), ("memory:p2", "public")])
    assert reads.recent(ALICE, 60) == {"memory:s": S, "memory:c": C, "memory:i": INT}
    reads.handed_out(BOB, [("memory:x", "public")])
    reads.handed_out(Principal("carol", "virtual", "sk-c…"), [("memory:y", "public")])
    assert reads.recent(ALICE, 60) == {}  # the least recently active key went


async def test_resolve_looks_levels_up_and_names_what_it_cannot() -> None:
    reads = MemoryReads()
    with pytest.raises(LookupError, match="no memory store in this gateway"):
        await reads.resolve(["memory:q3"])
    stored = {"q3": "confidential", "team/plan": "secret"}

    async def lookup(name: str) -> str | None:
        return stored.get(name)

    reads.lookup = lookup
    assert await reads.resolve(["memory:q3", "memory:team/plan"]) == {"memory:q3": C, "memory:team/plan": S}
    with pytest.raises(LookupError, match=r"'memory:nope': no such memory item; give its level"):
        await reads.resolve(["memory:q3", "memory:nope"])


def test_the_header_names_memory_items_with_or_without_a_level() -> None:
    headers = {"x-context-sources": "file:a.md=public, memory:q3, memory:team/plan=secret"}
    assert unlabelled_memory(headers) == ["memory:q3"]
    with pytest.raises(InvalidRequest, match="'memory:q3': expected <source>=<level>"):
        context_sources(headers, {})  # not looked up: refused, as any source without a level
    tags = context_sources(headers, {SOURCES_NOTE: {"memory:q3": "confidential"}})
    assert tags == {"file:a.md": P, "memory:q3": C, "memory:team/plan": S}


def test_reads_are_shared_through_the_file_across_workers_and_restarts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import stat

    from adaptive_gateway.pipeline.context import Principal
    from adaptive_gateway.trust.levels import TrustLevel
    from adaptive_gateway.trust.memory_sources import MemoryReads

    share = tmp_path / "trust" / "memory-reads.jsonl"
    alice, bob = Principal("key_a", "virtual"), Principal("key_b", "virtual")
    worker_1, worker_2 = MemoryReads(share=share), MemoryReads(share=share)
    assert worker_2.recent(alice, 60) == {}
    worker_1.handed_out(alice, [("memory:q3", "confidential")])
    # the other worker sees it on the next request, for that key only
    assert worker_2.recent(alice, 60) == {"memory:q3": TrustLevel.CONFIDENTIAL}
    assert worker_2.recent(bob, 60) == {}
    assert stat.S_IMODE(os.stat(share).st_mode) == 0o600
    assert b"confidential" in share.read_bytes() and b"key_a" in share.read_bytes()
    # a restarted worker reads the file from the start
    assert MemoryReads(share=share).recent(alice, 60) == {"memory:q3": TrustLevel.CONFIDENTIAL}
    # the file is read again only when the appends counter next to it moved (no read per request)
    assert stat.S_IMODE(os.stat(share.with_suffix(".seq")).st_mode) == 0o600
    line = b'{"k": "virtual:key_b", "n": "memory:x", "l": "secret", "t": %d}\n' % int(time.time())
    with open(share, "ab") as fh:
        fh.write(b"not json\n" + line[:30])
    assert worker_2.recent(bob, 60) == {}
    _bump(share)
    # a torn last line is read once it is complete; garbage lines are skipped
    assert worker_2.recent(bob, 60) == {}
    with open(share, "ab") as fh:
        fh.write(line[30:])
    assert worker_2.recent(bob, 60) == {}  # not announced yet
    _bump(share)
    assert worker_2.recent(bob, 60) == {"memory:x": TrustLevel.SECRET}


def _bump(share: Path) -> None:
    """What a writer does after appending: increment the shared counter."""
    seq = share.with_suffix(".seq")
    count = int.from_bytes(seq.read_bytes(), "little")
    seq.write_bytes((count + 1).to_bytes(8, "little"))


def test_a_read_in_another_process_counts_on_the_next_request(tmp_path: Path) -> None:
    """Workers are processes: a hand-out in one (an MCP read) is seen by another's next request."""
    import multiprocessing

    from adaptive_gateway.pipeline.context import Principal
    from adaptive_gateway.trust.levels import TrustLevel
    from adaptive_gateway.trust.memory_sources import MemoryReads

    share = tmp_path / "trust" / "memory-reads.jsonl"
    alice = Principal("key_a", "virtual")
    here = MemoryReads(share=share)
    assert here.recent(alice, 60) == {}  # maps the counter before the other process writes
    child = multiprocessing.get_context("fork").Process(target=_hand_out, args=(share,))
    child.start()
    child.join(10)
    assert child.exitcode == 0
    assert here.recent(alice, 60) == {"memory:q3": TrustLevel.CONFIDENTIAL}


def _hand_out(share: Path) -> None:
    from adaptive_gateway.pipeline.context import Principal
    from adaptive_gateway.trust.memory_sources import MemoryReads

    MemoryReads(share=share).handed_out(Principal("key_a", "virtual"), [("memory:q3", "confidential")])


def test_old_reads_in_the_file_expire_and_compaction_keeps_live_ones(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import time

    import orjson

    from adaptive_gateway.pipeline.context import Principal
    from adaptive_gateway.trust import memory_sources
    from adaptive_gateway.trust.memory_sources import MemoryReads

    share = tmp_path / "memory-reads.jsonl"
    old = time.time() - 2 * memory_sources.SHARE_KEEP_SECONDS
    share.write_bytes(
        b"".join(
            orjson.dumps({"k": "virtual:key_a", "n": f"memory:old{i}", "l": "secret", "t": old}) + b"\n"
            for i in range(50)
        )
    )
    alice = Principal("key_a", "virtual")
    reads = MemoryReads(share=share)
    assert reads.recent(alice, 3600) == {}  # far older than the TTL
    monkeypatch.setattr(memory_sources, "SHARE_COMPACT_BYTES", 100)
    reads.handed_out(alice, [("memory:new", "internal")])
    assert b"old" not in share.read_bytes() and b"memory:new" in share.read_bytes()
    other = MemoryReads(share=share)
    assert list(other.recent(alice, 3600)) == ["memory:new"]


def test_without_a_counter_the_file_is_still_read(tmp_path: Path) -> None:
    """A counter that cannot be made (a read-only folder, a name taken by a directory): reads from other
    workers are still seen, by looking at the file itself on each request."""
    share = tmp_path / "memory-reads.jsonl"
    share.with_suffix(".seq").mkdir()  # the counter's name is taken: it cannot be mapped
    alice = Principal("key_a", "virtual")
    reader, writer = MemoryReads(share=share), MemoryReads(share=share)
    assert reader.recent(alice, 60) == {}
    writer.handed_out(alice, [("memory:q3", "confidential")])
    assert reader.recent(alice, 60) == {"memory:q3": TrustLevel.CONFIDENTIAL}

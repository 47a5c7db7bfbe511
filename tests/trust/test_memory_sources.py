"""Shared-memory items as context sources: the per-key record of items handed out over MCP, the level
lookup of items named without a level, and how the stage's source parsing uses them."""

from __future__ import annotations

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

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adaptive_gateway.ledger.consent import (
    GENESIS_HASH,
    Action,
    ConsentLedger,
    Entry,
    LedgerError,
    entry_hash,
)


@pytest.fixture
def ledger(tmp_path: Path) -> ConsentLedger:
    return ConsentLedger(tmp_path / "state" / "consent.jsonl")


def seeded(ledger: ConsentLedger) -> list[Entry]:
    return [
        ledger.append("alice", "grant", "provider:openai", "init: user accepted hosted OpenAI"),
        ledger.append("alice", "grant", "client:claude-code", "integrate claude-code"),
        ledger.append("alice", "grant", "env:OPENAI_API_KEY", "use key found in environment"),
        ledger.append("bob", "revoke", "provider:openai", "offline week"),
        ledger.append("alice", "grant", "source:memory", "share memory with local models"),
    ]


def lines(ledger: ConsentLedger) -> list[str]:
    return ledger.path.read_text(encoding="utf-8").splitlines()


def write(ledger: ConsentLedger, rows: list[str]) -> None:
    ledger.path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")


def test_append_builds_a_hash_chain(ledger: ConsentLedger) -> None:
    entries = seeded(ledger)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    for previous, entry in itertools.pairwise(entries):
        assert entry.prev_hash == previous.hash
    for entry in entries:
        assert entry.hash == entry.expected_hash()
        assert entry.ts.endswith("Z")
        datetime.fromisoformat(entry.ts.replace("Z", "+00:00"))
    assert ledger.entries() == entries
    assert ledger.head() == entries[-1].hash
    assert ledger.verify().ok


def test_hash_is_sha256_of_canonical_json_without_hash(ledger: ConsentLedger) -> None:
    entry = ledger.append("alice", "grant", "provider:openai", "réason with ünicode")
    stored = json.loads(lines(ledger)[0])
    assert stored["hash"] == entry.hash
    del stored["hash"]
    assert entry.hash == entry_hash(stored)
    assert len(entry.hash) == 64


def test_file_is_private(ledger: ConsentLedger) -> None:
    ledger.append("alice", "grant", "provider:openai", "init")
    assert stat.S_IMODE(os.stat(ledger.path).st_mode) == 0o600


def test_clock_is_injectable(tmp_path: Path) -> None:
    fixed = datetime(2024, 3, 18, 10, 12, 1, 123456, tzinfo=UTC)
    entry = ConsentLedger(tmp_path / "l.jsonl", clock=lambda: fixed).append("a", "grant", "provider:x", "r")
    assert entry.ts == "2024-03-18T10:12:01.123456Z"


def test_latest_entry_per_scope_wins(ledger: ConsentLedger) -> None:
    seeded(ledger)
    assert not ledger.is_granted("provider:openai")  # granted, then revoked
    assert ledger.is_granted("client:claude-code")
    assert not ledger.is_granted("provider:anthropic")  # never mentioned
    assert set(ledger.grants()) == {"client:claude-code", "env:OPENAI_API_KEY", "source:memory"}
    ledger.append("alice", "grant", "provider:openai", "back online")
    assert ledger.is_granted("provider:openai")
    assert ledger.grants()["provider:openai"].seq == 6


def test_revocation_never_edits_earlier_entries(ledger: ConsentLedger) -> None:
    ledger.append("alice", "grant", "provider:openai", "init")
    before = lines(ledger)
    ledger.append("alice", "revoke", "provider:openai", "changed my mind")
    assert lines(ledger)[: len(before)] == before


@pytest.mark.parametrize(
    ("action", "scope", "actor", "message"),
    [
        ("approve", "provider:openai", "alice", "unknown action"),
        ("grant", "openai", "alice", "invalid scope"),
        ("grant", "provider: openai", "alice", "invalid scope"),
        ("grant", "Provider:openai", "alice", "invalid scope"),
        ("grant", "provider:openai", " ", "actor"),
    ],
)
def test_append_validates_input(
    ledger: ConsentLedger, action: str, scope: str, actor: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ledger.append(actor, action, scope, "x")  # type: ignore[arg-type]


def test_empty_or_missing_ledger(ledger: ConsentLedger) -> None:
    assert ledger.entries() == []
    assert ledger.grants() == {}
    assert ledger.head() == GENESIS_HASH
    result = ledger.verify()
    assert result.ok and result.entries == 0


def test_edited_entry_is_detected(ledger: ConsentLedger) -> None:
    seeded(ledger)
    rows = lines(ledger)
    tampered = json.loads(rows[2])
    tampered["scope"] = "env:ANTHROPIC_API_KEY"
    rows[2] = json.dumps(tampered)
    write(ledger, rows)
    result = ledger.verify()
    assert not result.ok
    assert [(p.kind, p.seq, p.line) for p in result.problems] == [("edited", 3, 3)]


def test_edit_with_recomputed_hash_breaks_the_chain(ledger: ConsentLedger) -> None:
    seeded(ledger)
    rows = lines(ledger)
    tampered = json.loads(rows[1])
    tampered["action"] = "revoke"
    del tampered["hash"]
    tampered["hash"] = entry_hash(tampered)
    rows[1] = json.dumps(tampered)
    write(ledger, rows)
    problems = ledger.verify().problems
    assert [(p.kind, p.seq) for p in problems] == [("chain_break", 3)]


def test_removed_entry_is_detected(ledger: ConsentLedger) -> None:
    seeded(ledger)
    rows = lines(ledger)
    write(ledger, rows[:1] + rows[2:])
    kinds = {(p.kind, p.seq) for p in ledger.verify().problems}
    assert ("removed", 2) in kinds
    assert ("chain_break", 3) in kinds


def test_removed_first_entry_is_detected(ledger: ConsentLedger) -> None:
    seeded(ledger)
    write(ledger, lines(ledger)[1:])
    kinds = {(p.kind, p.seq) for p in ledger.verify().problems}
    assert kinds == {("removed", 1), ("chain_break", 2)}


def test_reordered_entries_are_detected(ledger: ConsentLedger) -> None:
    seeded(ledger)
    rows = lines(ledger)
    rows[1], rows[2] = rows[2], rows[1]
    write(ledger, rows)
    problems = ledger.verify().problems
    assert ("reordered", 2) in {(p.kind, p.seq) for p in problems}
    assert not any(p.kind in ("edited", "removed") for p in problems)


def test_truncation_is_detected_with_a_remembered_head(ledger: ConsentLedger) -> None:
    seeded(ledger)
    head = ledger.head()
    write(ledger, lines(ledger)[:-1])
    assert ledger.verify().ok, "a shorter chain is self-consistent"
    result = ledger.verify(expected_head=head)
    assert [p.kind for p in result.problems] == ["truncated"]


def test_malformed_lines_are_reported_and_block_appends(ledger: ConsentLedger) -> None:
    seeded(ledger)
    rows = lines(ledger)
    write(ledger, [*rows, '{"seq": "six"}'])
    result = ledger.verify()
    assert [(p.kind, p.line) for p in result.problems] == [("malformed", 6)]
    with pytest.raises(LedgerError, match="not a valid entry"):
        ledger.append("alice", "grant", "provider:x", "y")
    with pytest.raises(LedgerError, match=":6:"):
        ledger.entries()


def test_incomplete_last_line_blocks_appends(ledger: ConsentLedger) -> None:
    seeded(ledger)
    with ledger.path.open("a", encoding="utf-8") as handle:
        handle.write('{"seq": 6, "ts"')
    with pytest.raises(LedgerError, match="incomplete"):
        ledger.append("alice", "grant", "provider:x", "y")


def _append_many(path: str, worker: int, count: int) -> None:
    ledger = ConsentLedger(path)
    for index in range(count):
        action: Action = "grant" if index % 2 == 0 else "revoke"
        ledger.append(f"worker-{worker}", action, f"provider:p{worker}", f"entry {index}")


def test_concurrent_appends_from_several_processes_keep_a_valid_chain(tmp_path: Path) -> None:
    path = str(tmp_path / "consent.jsonl")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(path, worker, 25)) for worker in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    ledger = ConsentLedger(path)
    result = ledger.verify()
    assert result.ok, result.problems
    entries = ledger.entries()
    assert [e.seq for e in entries] == list(range(1, 101))
    assert {e.actor for e in entries} == {f"worker-{n}" for n in range(4)}
    assert all(ledger.is_granted(f"provider:p{n}") for n in range(4))  # entry 24 of each is a grant

"""Two clones of one bare remote act as two machines."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from adaptive_gateway.memory import (
    DetectSecretsScanner,
    MemoryItem,
    MemoryStore,
    MemorySync,
    PushRefused,
    SecretScanner,
    SyncError,
    clone_memory,
    default_scanner,
)

FAKE_AWS_KEY = "AKIA" + "ABCDEFGHIJKLMNOP"
FAKE_PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"


@pytest.fixture
def scanner() -> SecretScanner:
    return DetectSecretsScanner()


@pytest.fixture
def machine_a(tmp_path: Path, bare_remote: Path, scanner: SecretScanner) -> MemorySync:
    store = MemoryStore(tmp_path / "a", author="codex")
    sync = MemorySync(store, scanner)
    sync.add_remote("origin", str(bare_remote))
    store.append_session("shared", "base entry")
    assert sync.push().pushed
    return sync


@pytest.fixture
def machine_b(tmp_path: Path, bare_remote: Path, machine_a: MemorySync, scanner: SecretScanner) -> MemorySync:
    return MemorySync(clone_memory(str(bare_remote), tmp_path / "b", author="claude"), scanner)


def _remote_refs(bare: Path) -> str:
    return subprocess.run(
        ["git", "for-each-ref"], cwd=bare, capture_output=True, text=True, check=True
    ).stdout


def _notes(sync: MemorySync) -> set[str]:
    return {item.title for item in sync.store.list(type="note")}


def _entries(sync: MemorySync) -> list[str]:
    return [entry.text for entry in sync.store.session_entries("shared")]


def test_concurrent_edits_on_two_machines_lose_nothing(
    machine_a: MemorySync, machine_b: MemorySync, git
) -> None:
    a, b = machine_a.store, machine_b.store
    for n in range(3):
        a.write(MemoryItem.new("note", f"a{n}"))
        b.write(MemoryItem.new("note", f"b{n}"))
    for n in range(2):
        a.append_session("shared", f"a says {n}")
        b.append_session("shared", f"b says {n}")

    machine_a.push()
    with pytest.raises(SyncError, match="pull first"):
        machine_b.push()
    pulled = machine_b.pull()
    assert pulled.updated and not pulled.fast_forward
    assert pulled.resolved == ("default/sessions/shared.md",)
    assert machine_b.push().pushed
    assert machine_a.pull().fast_forward

    expected_notes = {f"{side}{n}" for side in "ab" for n in range(3)}
    expected_entries = {"base entry"} | {f"{side} says {n}" for side in "ab" for n in range(2)}
    for sync in (machine_a, machine_b):
        assert _notes(sync) == expected_notes
        assert set(_entries(sync)) == expected_entries and len(_entries(sync)) == 5
        assert "<<<<<<<" not in (sync.store.root / "default/sessions/shared.md").read_text()
        assert git(sync.store.root, "status", "--porcelain") == ""
    assert a.head() == b.head()
    subprocess.run(["git", "fsck", "--no-progress"], cwd=a.root, check=True, capture_output=True)


def test_same_item_edited_on_both_sides_keeps_the_newer(
    machine_a: MemorySync, machine_b: MemorySync, git
) -> None:
    item = machine_a.store.write(MemoryItem.new("note", "plan", "v0"))
    machine_a.push()
    machine_b.pull()
    machine_a.store.write(item.with_changes(body="from a"))
    machine_b.store.write(item.with_changes(body="from b"))  # written later
    machine_a.push()
    assert machine_b.pull().resolved == (item.relpath,)
    assert machine_b.store.read(item.id).body == "from b"
    # The losing version stays in history as the merged-in parent.
    assert "from a" in git(machine_b.store.root, "show", f"HEAD^2:{item.relpath}")


def test_deleted_on_one_side_edited_on_the_other_survives(
    machine_a: MemorySync, machine_b: MemorySync, git
) -> None:
    item = machine_a.store.write(MemoryItem.new("note", "keep me", "v0"))
    machine_a.push()
    machine_b.pull()
    (machine_a.store.root / item.relpath).unlink()
    git(machine_a.store.root, "commit", "-qam", "delete")
    machine_b.store.write(item.with_changes(body="edited"))
    machine_a.push()
    machine_b.pull()
    assert machine_b.store.read(item.id).body == "edited"


def test_fresh_store_pulls_an_unrelated_history(
    tmp_path: Path, bare_remote: Path, machine_a: MemorySync, scanner: SecretScanner
) -> None:
    machine_a.store.write(MemoryItem.new("note", "from a"))
    machine_a.push()
    c = MemorySync(MemoryStore(tmp_path / "c", author="gemini"), scanner)
    c.add_remote("origin", str(bare_remote))
    assert c.pull().updated
    assert _notes(c) == {"from a"}
    assert _entries(c) == ["base entry"]
    c.store.write(MemoryItem.new("note", "from c"))
    assert c.push().pushed
    assert c.pull().updated is False
    machine_a.pull()
    assert _notes(machine_a) == {"from a", "from c"}


def test_pull_and_push_when_nothing_changed(machine_a: MemorySync) -> None:
    assert machine_a.pull().updated is False
    result = machine_a.push()
    assert result.pushed is False and result.head == machine_a.store.head()


@pytest.mark.parametrize("secret", [FAKE_AWS_KEY, FAKE_PRIVATE_KEY])
@pytest.mark.parametrize("scanner_kind", ["detect-secrets", "default"])
def test_push_refuses_a_planted_secret(
    machine_a: MemorySync, bare_remote: Path, secret: str, scanner_kind: str
) -> None:
    if scanner_kind == "default":
        machine_a = MemorySync(machine_a.store, default_scanner())
    before = _remote_refs(bare_remote)
    item = machine_a.store.write(MemoryItem.new("note", "deploy creds", f"The key:\n\n{secret}\n"))
    with pytest.raises(PushRefused) as refused:
        machine_a.push()
    assert [problem.path for problem in refused.value.problems] == [item.relpath]
    assert "contains a secret" in str(refused.value) and item.relpath in str(refused.value)
    assert "nothing was sent" in str(refused.value)
    assert _remote_refs(bare_remote) == before
    missing = subprocess.run(["git", "cat-file", "-e", machine_a.store.head() or ""], cwd=bare_remote)
    assert missing.returncode != 0


def test_push_refuses_items_above_the_remote_trust_level(machine_a: MemorySync, bare_remote: Path) -> None:
    before = _remote_refs(bare_remote)
    item = machine_a.store.write(MemoryItem.new("note", "salaries", "numbers", trust_level="confidential"))
    problems = machine_a.check_push()
    assert [(p.path, p.reason) for p in problems] == [
        (item.relpath, "trust level 'confidential' is above this remote's maximum 'internal'")
    ]
    with pytest.raises(PushRefused):
        machine_a.push()
    assert _remote_refs(bare_remote) == before

    machine_a.add_remote("origin", str(bare_remote), max_trust="confidential")
    assert machine_a.remote("origin").max_trust == "confidential"
    assert machine_a.check_push() == []
    assert machine_a.push().pushed


def test_secret_removed_later_is_still_refused_because_history_would_leak(machine_a: MemorySync) -> None:
    item = machine_a.store.write(MemoryItem.new("note", "oops", FAKE_AWS_KEY))
    machine_a.store.write(item.with_changes(body="redacted"))
    with pytest.raises(PushRefused) as refused:
        machine_a.push()
    [problem] = refused.value.problems
    assert problem.path == item.relpath
    assert "earlier version" in problem.reason


def test_unknown_remote_and_unreachable_remote(machine_a: MemorySync, tmp_path: Path) -> None:
    with pytest.raises(SyncError, match="unknown remote 'backup'"):
        machine_a.pull("backup")
    machine_a.add_remote("gone", str(tmp_path / "missing.git"))
    with pytest.raises(SyncError, match="fetch from 'gone' failed"):
        machine_a.push("gone")
    assert [remote.name for remote in machine_a.remotes()] == ["gone", "origin"]


def test_clone_of_an_empty_remote(tmp_path: Path, bare_remote: Path, scanner: SecretScanner) -> None:
    store = clone_memory(str(bare_remote), tmp_path / "first", author="codex", max_trust="public")
    sync = MemorySync(store, scanner)
    assert sync.remote("origin").max_trust == "public"
    store.write(MemoryItem.new("note", "hello", trust_level="public"))
    assert sync.push().pushed

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive_gateway.memory import (
    InvalidItem,
    ItemNotFound,
    ItemType,
    MemoryItem,
    MemoryStore,
    TrustLevel,
    default_root,
)
from adaptive_gateway.memory.frontmatter import dump_item, parse_item


def test_new_store_is_a_git_repo_with_ignored_index(store: MemoryStore, git) -> None:
    assert (store.root / ".git").is_dir()
    assert git(store.root, "log", "--format=%s") == "memory: initialise repository"
    assert git(store.root, "config", "--local", "user.name") == "adaptive-gateway"
    assert git(store.root, "check-ignore", ".index.sqlite") == ".index.sqlite"


def test_reopening_an_existing_store_adds_no_commit(store: MemoryStore, git) -> None:
    MemoryStore(store.root)
    assert git(store.root, "rev-list", "--count", "HEAD") == "1"


def test_write_read_round_trip_and_commit_message(store: MemoryStore, git) -> None:
    item = MemoryItem.new(
        "note",
        "Breakers share state",
        "Use Redis when there are replicas.\n\nOtherwise memory.",
        namespace="gateway",
        tags=["routing", "redis"],
        trust_level="public",
        extra={"source": "review"},
    )
    stored = store.write(item, author="claude")
    assert store.read(item.id) == stored
    assert stored.author_agent == "claude"
    path = store.root / "gateway" / "notes" / f"{item.id}.md"
    assert path.read_text().startswith(f"---\nid: {item.id}\ntype: note\nnamespace: gateway\n")
    assert git(store.root, "log", "-1", "--format=%an|%s") == (
        "claude|memory: record note 'Breakers share state' (ns=gateway, by claude)"
    )


def test_front_matter_round_trip_is_lossless() -> None:
    item = MemoryItem.new(
        "decision", "Ünïcode: title with 'quotes' and: colons", "body\n\n- list", tags=["a b", "2024"]
    )
    assert parse_item(dump_item(item)) == item


def test_update_keeps_created_at_and_is_a_new_commit(store: MemoryStore, git) -> None:
    first = store.write(MemoryItem.new("note", "Draft", "v1"))
    second = store.write(first.with_changes(body="v2"))
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    assert store.read(first.id).body == "v2"
    assert git(store.root, "log", "-1", "--format=%s").startswith("memory: update note 'Draft'")


def test_record_decision_and_task(store: MemoryStore) -> None:
    decision = store.record_decision(
        "Use Redis for breakers", "Breakers live in Redis.", ["shared by replicas"], alternatives=["memory"]
    )
    assert decision.type is ItemType.DECISION
    assert "## Reasons\n\n- shared by replicas" in decision.body
    assert "## Alternatives considered\n\n- memory" in decision.body
    task = store.record_task("Write the bench", description="latency numbers", assignee="claude")
    assert task.extra == {"status": "open", "assignee": "claude"}
    done = store.set_task_status(task.id, "done", author="claude")
    assert store.read(task.id).extra["status"] == "done" == done.extra["status"]
    with pytest.raises(InvalidItem):
        store.set_task_status(task.id, "finished")
    with pytest.raises(InvalidItem):
        store.set_task_status(decision.id, "done")


def test_list_filters(store: MemoryStore) -> None:
    store.write(MemoryItem.new("note", "a", namespace="one", tags=["x"], trust_level="public"))
    store.write(MemoryItem.new("note", "b", namespace="two", tags=["x", "y"], trust_level="secret"))
    store.record_task("c", namespace="one", author="claude")
    titles = lambda items: sorted(item.title for item in items)  # noqa: E731
    assert titles(store.list()) == ["a", "b", "c"]
    assert titles(store.list(namespace="one")) == ["a", "c"]
    assert titles(store.list(type="task")) == ["c"]
    assert titles(store.list(type="notes", tags=["y"])) == ["b"]
    assert titles(store.list(max_trust=TrustLevel.INTERNAL)) == ["a", "c"]
    assert titles(store.list(author="claude")) == ["c"]


def test_list_skips_files_that_do_not_parse(store: MemoryStore) -> None:
    broken = store.root / "default" / "notes" / "broken.md"
    broken.parent.mkdir(parents=True)
    broken.write_text("no front matter here\n")
    store.write(MemoryItem.new("note", "fine"))
    assert [item.title for item in store.list()] == ["fine"]


def test_read_errors(store: MemoryStore) -> None:
    with pytest.raises(ItemNotFound):
        store.read("nope")
    store.write(MemoryItem.new("note", "x", item_id="same", namespace="a"))
    store.write(MemoryItem.new("note", "y", item_id="same", namespace="b"))
    with pytest.raises(InvalidItem, match="ambiguous"):
        store.read("same")
    assert store.read("same", namespace="b").title == "y"
    with pytest.raises(InvalidItem, match=r"already used by a/notes/same\.md"):
        store.write(MemoryItem.new("task", "z", item_id="same", namespace="a"))
    with pytest.raises(InvalidItem):
        store.read("../escape")


@pytest.mark.parametrize(
    ("field", "value"),
    [("namespace", "../x"), ("id", "a/b"), ("title", "   "), ("title", "two\nlines")],
)
def test_invalid_items_are_rejected(field: str, value: str) -> None:
    kwargs = {"namespace": "default", "item_id": "ok", "title": "fine"} | {
        "item_id" if field == "id" else field: value
    }
    with pytest.raises(InvalidItem):
        MemoryItem.new("note", kwargs.pop("title"), **kwargs)


def test_unknown_type_and_trust_level() -> None:
    with pytest.raises(InvalidItem, match="unknown item type"):
        MemoryItem.new("memo", "x")
    with pytest.raises(InvalidItem, match="unknown trust level"):
        MemoryItem.new("note", "x", trust_level="top-secret")


def test_append_session_appends_one_commit_per_entry(store: MemoryStore, git) -> None:
    store.append_session("run-1", "started the refactor")
    store.append_session("run-1", "tests pass\n\nnext: docs", author="claude")
    entries = store.session_entries("run-1")
    assert [(e.author_agent, e.text) for e in entries] == [
        ("codex", "started the refactor"),
        ("claude", "tests pass\n\nnext: docs"),
    ]
    assert git(store.root, "log", "--format=%s", "-2").splitlines() == [
        "memory: append to session 'run-1' (ns=default, by claude)",
        "memory: start session 'run-1' (ns=default, by codex)",
    ]
    with pytest.raises(InvalidItem):
        store.append_session("run-1", "   ")


def test_session_trust_level_only_rises(store: MemoryStore) -> None:
    store.append_session("s", "one", trust_level="internal")
    store.append_session("s", "two", trust_level="confidential")
    store.append_session("s", "three", trust_level="public")
    item = store.read("s")
    assert item.trust_level is TrustLevel.CONFIDENTIAL
    assert [entry.text for entry in store.session_entries("s")] == ["one", "two", "three"]


def test_default_root_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ADAPTIVE_GATEWAY_HOME", str(tmp_path / "home"))
    assert default_root() == tmp_path / "home" / "memory"
    monkeypatch.delenv("ADAPTIVE_GATEWAY_HOME")
    assert default_root() == Path.home() / ".adaptive-llm-gateway" / "memory"

from __future__ import annotations

from datetime import timedelta

import pytest

from adaptive_gateway.memory import InvalidItem, ItemType, MemoryItem, SessionEntry
from adaptive_gateway.memory.frontmatter import dump_item, read_trust_level
from adaptive_gateway.memory.sessions import merge_session_texts, parse_entries


def _session(entries: list[SessionEntry], trust: str = "internal") -> str:
    item = MemoryItem.new(ItemType.SESSION, "Session s", "# Session s", item_id="s", trust_level=trust)
    return dump_item(item) + "".join(entry.render() for entry in entries)


def _entry(text: str, agent: str = "codex", shift: int = 0) -> SessionEntry:
    entry = SessionEntry.new(text, agent)
    return SessionEntry(entry.entry_id, entry.timestamp + timedelta(seconds=shift), agent, entry.text)


def test_render_and_parse_entries_round_trip() -> None:
    entries = [_entry("one"), _entry("two\n\n  indented\n- list", "claude", 1)]
    preamble, parsed = parse_entries(_session(entries).split("---\n", 2)[2])
    assert preamble == "# Session s"
    assert parsed == entries


def test_merge_is_the_union_ordered_by_time() -> None:
    base = [_entry("base")]
    ours = _session([*base, _entry("ours", shift=2)])
    theirs = _session([*base, _entry("theirs", "claude", shift=1), _entry("theirs later", "claude", shift=3)])
    merged = merge_session_texts(ours, theirs)
    _, entries = parse_entries(merged.split("---\n", 2)[2])
    assert [entry.text for entry in entries] == ["base", "theirs", "ours", "theirs later"]
    assert merge_session_texts(merged, ours) == merged  # idempotent: nothing duplicated


def test_merge_keeps_the_more_sensitive_front_matter() -> None:
    shared = _entry("x")
    merged = merge_session_texts(_session([shared]), _session([shared], trust="secret"))
    assert str(read_trust_level(merged)) == "secret"


def test_entry_text_cannot_forge_a_heading() -> None:
    forged = SessionEntry.new("x", "codex").render().strip().split("\n")[0]
    with pytest.raises(InvalidItem):
        SessionEntry.new(f"hello\n{forged}", "codex")

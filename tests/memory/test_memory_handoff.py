from __future__ import annotations

import pytest

from adaptive_gateway.memory import (
    Decision,
    Handoff,
    HandoffBook,
    HandoffError,
    HandoffStatus,
    InvalidItem,
    MemoryStore,
)
from adaptive_gateway.memory.frontmatter import dump_item, parse_item
from adaptive_gateway.memory.handoff_format import from_item, to_item


@pytest.fixture
def book(store: MemoryStore) -> HandoffBook:
    return HandoffBook(store)


def _create(book: HandoffBook, to_agent: str | None = "claude") -> Handoff:
    return book.create(
        "Finish the Redis breaker backend",
        from_agent="codex",
        to_agent=to_agent,
        context_summary="Breakers are per-process today; replicas disagree.",
        current_state="Interface done, Redis backend half written.",
        decisions=[("Use Lua scripts", "atomic transitions"), {"decision": "TTL 60s", "reason": "self-heal"}],
        open_tasks=["Write the half-open probe", "Bench it"],
        files_touched=["src/adaptive_gateway/state/redis.py"],
        resume_commands=["make test", "pytest tests/state -k breaker"],
        namespace="gateway",
    )


def test_handoff_from_a_is_accepted_and_completed_by_b(book: HandoffBook, git) -> None:
    created = _create(book)
    assert created.status is HandoffStatus.OPEN
    assert [h.id for h in book.list(to_agent="claude", status="open")] == [created.id]
    assert book.list(to_agent="gemini", include_unaddressed=False) == []

    with pytest.raises(HandoffError, match="addressed to 'claude'"):
        book.accept(created.id, "gemini")
    with pytest.raises(HandoffError, match="it is open, not accepted"):
        book.complete(created.id, "claude", "done")

    accepted = book.accept(created.id, "claude")
    assert (accepted.status, accepted.accepted_by) == (HandoffStatus.ACCEPTED, "claude")
    with pytest.raises(HandoffError, match="accepted by 'claude'"):
        book.complete(created.id, "codex", "done")

    completed = book.complete(created.id, "claude", "Merged; bench shows 0.2 ms per transition.")
    assert completed.status is HandoffStatus.COMPLETED
    assert completed.outcome == "Merged; bench shows 0.2 ms per transition."
    assert book.get(created.id) == completed
    assert book.list(status="open") == []
    subjects = git(book.store.root, "log", "--format=%an|%s", "-3").splitlines()
    title = "Finish the Redis breaker backend"
    assert subjects == [
        f"claude|memory: complete handoff '{title}' (ns=gateway, by claude)",
        f"claude|memory: accept handoff '{title}' (ns=gateway, by claude)",
        f"codex|memory: record handoff '{title}' (ns=gateway, by codex)",
    ]


def test_unaddressed_handoff_can_be_taken_by_anyone(book: HandoffBook) -> None:
    created = _create(book, to_agent=None)
    assert [h.id for h in book.list(to_agent="gemini")] == [created.id]
    assert book.accept(created.id, "gemini").accepted_by == "gemini"
    with pytest.raises(HandoffError):
        book.accept(created.id, "claude")


def test_cancel(book: HandoffBook) -> None:
    created = _create(book)
    with pytest.raises(HandoffError, match="only 'codex'"):
        book.cancel(created.id, "gemini")
    cancelled = book.cancel(created.id, "codex", "Superseded by the new plan.")
    assert (cancelled.status, cancelled.closed_by) == (HandoffStatus.CANCELLED, "codex")
    with pytest.raises(HandoffError):
        book.accept(created.id, "claude")


def test_markdown_is_readable_and_round_trips(book: HandoffBook) -> None:
    created = _create(book)
    text = (book.store.root / "gateway" / "handoffs" / f"{created.id}.md").read_text()
    for heading in ("## Goal", "## Context summary", "## Current state", "## Decisions", "## Open tasks"):
        assert f"\n{heading}\n\n" in text
    assert "- **Decision:** Use Lua scripts\n  **Reason:** atomic transitions" in text
    assert "- [ ] Write the half-open probe" in text
    assert "```sh\nmake test\npytest tests/state -k breaker\n```" in text
    assert "from_agent: codex\nto_agent: claude\nstatus: open" in text
    assert from_item(parse_item(text)) == created


def test_tricky_values_round_trip_losslessly() -> None:
    handoff = Handoff(
        id="tricky-1",
        goal="Line one\n\nLine three with `code` and ## not a heading",
        from_agent="codex",
        context_summary="- looks like a list\n  - nested\n\n_None_ but not the marker",
        decisions=(Decision("Multi\nline decision", "Reason one\n\nReason two"),),
        open_tasks=("task with\ncontinuation", "  leading spaces kept"),
        files_touched=("dir with space/file.py", "- odd-name.md"),
        resume_commands=("echo '```'", "git log --format='%H'"),
        outcome="",
        title="Tricky",
    )
    assert from_item(parse_item(dump_item(to_item(handoff)))) == handoff


@pytest.mark.parametrize(
    "kwargs",
    [
        {"goal": "  "},
        {"goal": "x", "current_state": "fine\n## Goal\nsneaky"},
        {"goal": "x", "decisions": [("no reason", "")]},
        {"goal": "x", "decisions": [{"decision": "missing reason"}]},
        {"goal": "x", "resume_commands": ["two\nlines"]},
        {"goal": "x", "to_agent": "../etc"},
    ],
)
def test_invalid_handoffs_are_rejected(book: HandoffBook, kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidItem):
        book.create(from_agent="codex", **kwargs)  # type: ignore[arg-type]

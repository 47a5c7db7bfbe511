"""The handoff schema and its Markdown form: front matter plus fixed ``## `` sections.

The Markdown is meant for people (it reads as a briefing) and parses back to the same
:class:`Handoff`. Text values are stored stripped; an empty section reads ``_None._``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from adaptive_gateway.memory.errors import InvalidItem
from adaptive_gateway.memory.models import (
    DEFAULT_NAMESPACE,
    ItemType,
    MemoryItem,
    TrustLevel,
    check_name,
    utcnow,
)

NONE_MARK = "_None._"
_DECISION = "- **Decision:** "
_REASON_LABEL = "**Reason:** "
_REASON = f"  {_REASON_LABEL}"
_TASK = "- [ ] "
_FILE = "- "


class HandoffStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Decision:
    """A decision already taken, and why; the receiving agent should not reopen it lightly."""

    decision: str
    reason: str


@dataclass(frozen=True)
class Handoff:
    """A task handed from one agent to another. ``to_agent`` None means any agent may accept it."""

    id: str
    goal: str
    from_agent: str
    to_agent: str | None = None
    status: HandoffStatus = HandoffStatus.OPEN
    context_summary: str = ""
    current_state: str = ""
    decisions: tuple[Decision, ...] = ()
    open_tasks: tuple[str, ...] = ()
    files_touched: tuple[str, ...] = ()
    resume_commands: tuple[str, ...] = ()
    outcome: str = ""
    accepted_by: str | None = None
    closed_by: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    title: str = ""
    tags: tuple[str, ...] = ()
    trust_level: TrustLevel = TrustLevel.INTERNAL
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


# (heading, field) in document order; each field has a renderer and a parser below.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("## Goal", "goal"),
    ("## Context summary", "context_summary"),
    ("## Current state", "current_state"),
    ("## Decisions", "decisions"),
    ("## Open tasks", "open_tasks"),
    ("## Files touched", "files_touched"),
    ("## Resume commands", "resume_commands"),
    ("## Outcome", "outcome"),
)
_HEADINGS = frozenset(heading for heading, _ in SECTIONS)


def validate(handoff: Handoff) -> Handoff:
    """Reject values the Markdown form could not carry back unchanged."""
    if not handoff.goal.strip():
        raise InvalidItem("a handoff needs a goal")
    check_name(handoff.from_agent, "from_agent")
    for agent in (handoff.to_agent, handoff.accepted_by, handoff.closed_by):
        if agent is not None:
            check_name(agent, "agent name")
    texts = [
        handoff.goal,
        handoff.context_summary,
        handoff.current_state,
        handoff.outcome,
        *handoff.open_tasks,
    ]
    texts += [part for d in handoff.decisions for part in (d.decision, d.reason)]
    for text in texts:
        if any(line.rstrip() in _HEADINGS for line in text.split("\n")):
            raise InvalidItem("handoff text may not contain a line that is one of the section headings")
    for decision in handoff.decisions:
        if not decision.decision.strip() or not decision.reason.strip():
            raise InvalidItem("each decision needs a text and a reason")
        if any(line.startswith(_REASON_LABEL.strip()) for line in decision.decision.split("\n")):
            raise InvalidItem("a decision's text may not contain a line starting with '**Reason:**'")
    for value in (*handoff.files_touched, *handoff.resume_commands):
        if "\n" in value or not value.strip():
            raise InvalidItem("files_touched and resume_commands entries must be single non-empty lines")
    return handoff


# -- rendering -----------------------------------------------------------------------------------


def _indent(text: str, prefix: str) -> str:
    first, *rest = text.split("\n")
    return "\n".join([prefix + first, *(f"  {line}" if line else "" for line in rest)])


def _text(value: str) -> str:
    return value or NONE_MARK


def _decisions(values: tuple[Decision, ...]) -> str:
    rendered = [f"{_indent(d.decision, _DECISION)}\n{_indent(d.reason, _REASON)}" for d in values]
    return "\n".join(rendered) or NONE_MARK


def _tasks(values: tuple[str, ...]) -> str:
    return "\n".join(_indent(task, _TASK) for task in values) or NONE_MARK


def _files(values: tuple[str, ...]) -> str:
    return "\n".join(f"{_FILE}{path}" for path in values) or NONE_MARK


def _commands(values: tuple[str, ...]) -> str:
    if not values:
        return NONE_MARK
    longest = max((len(run) for cmd in values for run in re.findall(r"`+", cmd)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([f"{fence}sh", *values, fence])


_RENDER: Mapping[str, Callable[[Any], str]] = {
    "goal": _text,
    "context_summary": _text,
    "current_state": _text,
    "decisions": _decisions,
    "open_tasks": _tasks,
    "files_touched": _files,
    "resume_commands": _commands,
    "outcome": _text,
}


def render_body(handoff: Handoff) -> str:
    to = f"`{handoff.to_agent}`" if handoff.to_agent else "any agent"
    parts = [
        f"# Handoff: {handoff.title}",
        f"From `{handoff.from_agent}` to {to}; status **{handoff.status.value}**.",
    ]
    for heading, name in SECTIONS:
        value = getattr(handoff, name)
        if name == "outcome" and not value:
            continue
        parts.append(f"{heading}\n\n{_RENDER[name](value)}")
    return "\n\n".join(parts)


# -- parsing -------------------------------------------------------------------------------------


def _split_sections(body: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body.split("\n"):
        if line.rstrip() in _HEADINGS:
            current = sections.setdefault(line.rstrip(), [])
        elif current is not None:
            current.append(line)
    return {heading: "\n".join(lines).strip("\n") for heading, lines in sections.items()}


def _list_items(text: str, prefix: str) -> list[str]:
    items: list[list[str]] = []
    for line in text.split("\n"):
        if line.startswith(prefix):
            items.append([line[len(prefix) :]])
        elif items:
            items[-1].append(line[2:] if line.startswith("  ") else line)
    return ["\n".join(lines).strip("\n") for lines in items]


def _parse_text(text: str) -> str:
    return "" if text == NONE_MARK else text


def _parse_decisions(text: str) -> tuple[Decision, ...]:
    decisions = []
    for item in _list_items(text, _DECISION):
        lines = item.split("\n")
        at = next((i for i, line in enumerate(lines) if line.startswith(_REASON_LABEL.strip())), len(lines))
        reason = "\n".join(lines[at:])[len(_REASON_LABEL.strip()) :]
        decisions.append(Decision("\n".join(lines[:at]), reason.strip(" ")))
    return tuple(decisions)


def _parse_commands(text: str) -> tuple[str, ...]:
    lines = text.split("\n")
    if not lines or not lines[0].startswith("```"):
        return ()
    fence = lines[0][: len(lines[0]) - len(lines[0].lstrip("`"))]
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() == fence), len(lines))
    return tuple(lines[1:end])


_PARSE: Mapping[str, Callable[[str], Any]] = {
    "goal": _parse_text,
    "context_summary": _parse_text,
    "current_state": _parse_text,
    "decisions": _parse_decisions,
    "open_tasks": lambda text: tuple(_list_items(text, _TASK)),
    "files_touched": lambda text: tuple(_list_items(text, _FILE)),
    "resume_commands": _parse_commands,
    "outcome": _parse_text,
}


def parse_body(body: str) -> dict[str, Any]:
    """The section fields of a handoff body (fields whose section is missing are left out)."""
    sections = _split_sections(body)
    return {name: _PARSE[name](sections[heading]) for heading, name in SECTIONS if heading in sections}


# -- items ---------------------------------------------------------------------------------------


def to_item(handoff: Handoff) -> MemoryItem:
    extra = {
        "from_agent": handoff.from_agent,
        "to_agent": handoff.to_agent,
        "status": handoff.status.value,
        "accepted_by": handoff.accepted_by,
        "closed_by": handoff.closed_by,
    }
    return MemoryItem(
        id=handoff.id,
        type=ItemType.HANDOFF,
        namespace=handoff.namespace,
        title=handoff.title,
        body=render_body(handoff),
        tags=handoff.tags,
        trust_level=handoff.trust_level,
        author_agent=handoff.from_agent,
        created_at=handoff.created_at,
        updated_at=handoff.updated_at,
        extra=extra,
    )


def from_item(item: MemoryItem) -> Handoff:
    if item.type is not ItemType.HANDOFF:
        raise InvalidItem(f"{item.id!r} is a {item.type.value}, not a handoff")
    meta = item.extra
    try:
        status = HandoffStatus(str(meta.get("status", HandoffStatus.OPEN.value)))
    except ValueError:
        raise InvalidItem(f"handoff {item.id!r} has an unknown status {meta.get('status')!r}") from None
    return Handoff(
        id=item.id,
        from_agent=str(meta.get("from_agent") or item.author_agent),
        to_agent=_optional(meta.get("to_agent")),
        status=status,
        accepted_by=_optional(meta.get("accepted_by")),
        closed_by=_optional(meta.get("closed_by")),
        namespace=item.namespace,
        title=item.title,
        tags=item.tags,
        trust_level=item.trust_level,
        created_at=item.created_at,
        updated_at=item.updated_at,
        **{"goal": "", **parse_body(item.body)},
    )


def _optional(value: object) -> str | None:
    return None if value is None or value == "" else str(value)

"""Session logs: append-only entries in one Markdown file, merged by union of entries.

Each entry starts with a heading ``## <timestamp> · <agent> · <entry id>``. The front matter of a
session file is written once and never rewritten, so concurrent appends on two machines only ever
differ in their tails, and a merge is the union of both sides' entries ordered by time.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from adaptive_gateway.memory.errors import InvalidItem
from adaptive_gateway.memory.frontmatter import read_trust_level, split_front_matter
from adaptive_gateway.memory.models import TrustLevel, format_time, parse_time, utcnow

_HEADING_RE = re.compile(r"^## (\S+) · (.+) · ([0-9a-f]{12})$")


@dataclass(frozen=True)
class SessionEntry:
    """One appended piece of a session log."""

    entry_id: str
    timestamp: datetime
    author_agent: str
    text: str

    @classmethod
    def new(cls, text: str, author_agent: str) -> SessionEntry:
        clean = text.strip("\n")
        if not clean.strip():
            raise InvalidItem("a session entry needs some text")
        if any(_HEADING_RE.match(line) for line in clean.split("\n")):
            raise InvalidItem("session text may not contain a line shaped like an entry heading")
        return cls(uuid.uuid4().hex[:12], utcnow(), author_agent, clean)

    def render(self) -> str:
        heading = f"## {format_time(self.timestamp)} · {self.author_agent} · {self.entry_id}"
        return f"\n{heading}\n\n{self.text}\n"


def parse_entries(body: str) -> tuple[str, list[SessionEntry]]:
    """Split a session body into its preamble and its entries."""
    preamble: list[str] = []
    entries: list[SessionEntry] = []
    current: tuple[str, str, str] | None = None
    lines: list[str] = []
    for line in body.split("\n"):
        match = _HEADING_RE.match(line)
        if match is None:
            (lines if current else preamble).append(line)
            continue
        if current:
            entries.append(_entry(current, lines))
        current, lines = (match.group(1), match.group(2), match.group(3)), []
    if current:
        entries.append(_entry(current, lines))
    return "\n".join(preamble).strip("\n"), entries


def _entry(heading: tuple[str, str, str], lines: list[str]) -> SessionEntry:
    stamp, author, entry_id = heading
    return SessionEntry(entry_id, parse_time(stamp), author, "\n".join(lines).strip("\n"))


def _split_document(text: str) -> tuple[str, str]:
    """(front matter block including delimiters, body) without reparsing the YAML."""
    split_front_matter(text)  # validates the shape
    lines = text.split("\n")
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    return "\n".join(lines[: end + 1]), "\n".join(lines[end + 1 :])


def _trust_rank(text: str) -> int:
    return (read_trust_level(text) or TrustLevel.INTERNAL).rank


def merge_session_texts(ours: str, theirs: str) -> str:
    """Union of two versions of a session file: every entry once, ordered by timestamp (ties keep
    our order first). The front matter of the more sensitive side wins, else ours.
    """
    head, our_body = _split_document(ours)
    their_head, their_body = _split_document(theirs)
    if _trust_rank(theirs) > _trust_rank(ours):
        head = their_head
    preamble, our_entries = parse_entries(our_body)
    their_preamble, their_entries = parse_entries(their_body)
    seen = {entry.entry_id for entry in our_entries}
    merged = our_entries + [entry for entry in their_entries if entry.entry_id not in seen]
    merged.sort(key=lambda entry: entry.timestamp)
    preamble = preamble or their_preamble
    parts = [head, "", preamble] if preamble else [head]
    return "\n".join(parts) + "\n" + "".join(entry.render() for entry in merged)

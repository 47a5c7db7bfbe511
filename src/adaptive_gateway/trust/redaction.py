"""Redaction of detector findings: irreversible masks or reversible placeholders.

``mask`` replaces each finding with ``[REDACTED_EMAIL]``; nothing of the value survives anywhere.
``placeholder`` replaces it with ``[[EMAIL_1]]`` and returns the mapping needed to put the value
back into the answer the client sees (:func:`restore`, or :class:`StreamRestorer` for streams).
The mapping holds the sensitive values: keep it in the request context, never log or persist it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from adaptive_gateway.trust.detectors import Finding, summarize

Mode = Literal["mask", "placeholder"]
PLACEHOLDER = re.compile(r"\[\[([A-Z0-9_]+)_(\d+)\]\]")
_LABEL_CHARS = re.compile(r"[^A-Z0-9]+")
# Longest placeholder StreamRestorer will wait for; anything longer is ordinary text.
MAX_PLACEHOLDER = 64


@dataclass(frozen=True, slots=True)
class Redacted:
    """The redacted text, the placeholder mapping (empty for masks) and counts by finding type."""

    text: str
    mapping: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    counts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


def label_for(finding_type: str) -> str:
    """The placeholder label of a finding type: ``pii.email`` -> ``EMAIL``."""
    name = finding_type.partition(".")[2] or finding_type
    return _LABEL_CHARS.sub("_", name.upper()).strip("_") or "VALUE"


def _merged(findings: Iterable[Finding], length: int) -> list[Finding]:
    """Findings sorted by start with overlaps merged; the strongest finding names the span."""
    merged: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (f.start, -f.end)):
        if not 0 <= finding.start < finding.end <= length:
            raise ValueError(f"finding {finding.type} span {finding.start}:{finding.end} outside text")
        if merged and finding.start < merged[-1].end:
            last = merged[-1]
            strongest = max(last, finding, key=lambda f: (f.level, f.confidence))
            merged[-1] = Finding(
                strongest.type, last.start, max(last.end, finding.end), strongest.confidence, strongest.level
            )
        else:
            merged.append(finding)
    return merged


class _Numbering:
    """Stable placeholders: the same value always gets the same ``[[LABEL_n]]``."""

    def __init__(self, known: Mapping[str, str], text: str) -> None:
        self.mapping = dict(known)
        self._by_value = {value: placeholder for placeholder, value in known.items()}
        self._text = text
        self._next: dict[str, int] = {}
        for placeholder in known:
            match = PLACEHOLDER.fullmatch(placeholder)
            if match:
                label, number = match.group(1), int(match.group(2))
                self._next[label] = max(self._next.get(label, 1), number + 1)

    def placeholder(self, label: str, value: str) -> str:
        existing = self._by_value.get(value)
        if existing is not None:
            return existing
        number = self._next.get(label, 1)
        while f"[[{label}_{number}]]" in self._text:  # never collide with text already present
            number += 1
        placeholder = f"[[{label}_{number}]]"
        self._next[label] = number + 1
        self.mapping[placeholder] = value
        self._by_value[value] = placeholder
        return placeholder


def redact(
    text: str,
    findings: Sequence[Finding],
    mode: Mode = "placeholder",
    *,
    known: Mapping[str, str] | None = None,
) -> Redacted:
    """Replace every finding in ``text``; overlapping findings are merged into one replacement.

    Pass the previous result's ``mapping`` as ``known`` when redacting several messages of one
    request, so a value keeps its placeholder across messages. Raises ``ValueError`` for a
    finding whose span lies outside ``text`` or for an unknown mode.
    """
    if mode not in ("mask", "placeholder"):
        raise ValueError(f"unknown redaction mode {mode!r}; valid: mask, placeholder")
    numbering = _Numbering(known or {}, text)
    pieces: list[str] = []
    cursor = 0
    for finding in _merged(findings, len(text)):
        pieces.append(text[cursor : finding.start])
        label = label_for(finding.type)
        value = text[finding.start : finding.end]
        pieces.append(numbering.placeholder(label, value) if mode == "placeholder" else f"[REDACTED_{label}]")
        cursor = finding.end
    pieces.append(text[cursor:])
    mapping = numbering.mapping if mode == "placeholder" else {}
    return Redacted("".join(pieces), MappingProxyType(mapping), MappingProxyType(summarize(findings)))


def restore(text: str, mapping: Mapping[str, str]) -> str:
    """Put the original values back for every placeholder in ``mapping``; others stay as they are."""
    if not mapping or "[[" not in text:
        return text
    return PLACEHOLDER.sub(lambda match: mapping.get(match.group(0), match.group(0)), text)


class StreamRestorer:
    """Restores placeholders in a stream of text deltas, even when one is split across deltas.

    ``feed`` returns the text that is safe to emit now; it holds back only a tail that could still
    become a known placeholder (at most :data:`MAX_PLACEHOLDER` characters). Call ``flush`` at the
    end of the stream to emit whatever is held back.
    """

    __slots__ = ("_mapping", "_pending", "_prefixes")

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self._mapping = mapping
        self._pending = ""
        self._prefixes = frozenset(
            placeholder[:size]
            for placeholder in mapping
            if len(placeholder) <= MAX_PLACEHOLDER
            for size in range(1, len(placeholder))
        )

    def feed(self, delta: str) -> str:
        """Restored text that can be emitted after ``delta`` arrived (possibly empty)."""
        text = self._pending + delta
        if not self._prefixes:
            self._pending = ""
            return text
        cut = self._holdback_start(text)
        self._pending = text[cut:]
        return restore(text[:cut], self._mapping)

    def flush(self) -> str:
        """Emit everything still held back; the restorer can then be reused for a new stream."""
        text, self._pending = self._pending, ""
        return restore(text, self._mapping)

    def _holdback_start(self, text: str) -> int:
        position = text.find("[", max(0, len(text) - MAX_PLACEHOLDER))
        while position >= 0:
            if text[position:] in self._prefixes:
                return position
            position = text.find("[", position + 1)
        return len(text)

"""The text of a request as the detectors see it, and redaction of that text in place.

Scanned: the text parts of every message (system, user, assistant, tool results) and the arguments of
earlier tool calls; never images, audio or files. All texts are joined with a separator no detector
matches across and scanned once, so a conversation of many short messages costs one scan. Redaction
rewrites the canonical messages and, when the client's body is kept for same-format passthrough
(``ChatRequest.raw``), every string of that body holding a redacted value, so no path forwards the
original.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adaptive_gateway.trust.detectors import DetectorSet, Finding, summarize
from adaptive_gateway.trust.memo import Digests
from adaptive_gateway.trust.redaction import Mode, label_for, redact
from adaptive_gateway.types import ChatRequest, Message

# NUL is neither a key, word nor digit character for any rule, so no finding spans two texts
SEPARATOR = "\n\x00\n"


# where a scanned text lives: (message index, part) with part >= 0 a content part, else the arguments
# of tool call ``-part - 1``. A plain tuple: one is made per text per request (a named tuple's
# constructor costs 8x, a frozen dataclass 14x), and only redaction reads them.
TextRef = tuple[int, int]


@dataclass(slots=True)
class Scan:
    """Findings of one request, in the coordinates of each text (``per_text[i]`` for ``texts[i]``)."""

    texts: list[str]
    refs: list[TextRef]
    findings: list[Finding]
    per_text: dict[int, list[Finding]] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return summarize(self.findings)


@dataclass(frozen=True, slots=True)
class RequestRedaction:
    """What redaction did: counts by type, the placeholder mapping (sensitive: never log or persist
    it) and the number of values replaced."""

    counts: Mapping[str, int]
    mapping: Mapping[str, str]
    mode: Mode


def request_texts(messages: Sequence[Message]) -> tuple[list[str], list[TextRef]]:
    """Every scannable text of ``messages`` with where it lives."""
    texts: list[str] = []
    refs: list[TextRef] = []
    for i, msg in enumerate(messages):
        for j, part in enumerate(msg.content):
            if part.type == "text" and part.text:
                texts.append(part.text)
                refs.append((i, j))
        for k, call in enumerate(msg.tool_calls):
            if call.arguments:
                texts.append(call.arguments)
                refs.append((i, -k - 1))
    return texts, refs


def _scan_joined(detectors: DetectorSet, texts: list[str]) -> list[list[Finding]]:
    """Findings per text of ``texts``, in each text's coordinates, from one pass over them joined."""
    if len(texts) == 1:
        return [detectors.scan(texts[0])]
    out: list[list[Finding]] = [[] for _ in texts]
    found = detectors.scan(SEPARATOR.join(texts))
    if not found:
        return out
    starts: list[int] = []
    offset = 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + len(SEPARATOR)
    for f in found:
        i = bisect.bisect_right(starts, f.start) - 1
        base, end = starts[i], starts[i] + len(texts[i])
        out[i].append(Finding(f.type, f.start - base, min(f.end, end) - base, f.confidence, f.level))
    return out


def scan_texts(
    detectors: DetectorSet, texts: list[str], refs: list[TextRef], seen: Digests | None = None
) -> Scan:
    """Scan ``texts``: those seen before from the detector set's memo (``trust/memo.py``), the rest in
    one pass; findings are mapped back to the text they were found in."""
    if not texts:
        return Scan(texts, refs, [])
    per_text: dict[int, list[Finding]] = {}
    local: list[Finding] = []
    for i, hits in enumerate(detectors.memo.results(texts, lambda new: _scan_joined(detectors, new), seen)):
        if hits:
            per_text[i] = list(hits)
            local.extend(hits)
    return Scan(texts, refs, local, per_text)


def scan_request(detectors: DetectorSet, req: ChatRequest, seen: Digests | None = None) -> Scan:
    """Scan every text of ``req`` (see the module docstring for what counts as text)."""
    texts, refs = request_texts(req.messages)
    return scan_texts(detectors, texts, refs, seen)


def redact_request(req: ChatRequest, scan: Scan, mode: Mode, detectors: DetectorSet) -> RequestRedaction:
    """Replace every finding of ``scan`` in ``req``, in place; placeholders are numbered across the
    whole request so a value keeps one placeholder everywhere.

    The client's body (``req.raw``) gets the same replacements; if a rescan of it still finds
    anything (a value split across two of its strings, or in a field that is not scanned), it is
    dropped so the request is re-encoded from the redacted messages instead of passed through.
    """
    mapping: dict[str, str] = {}
    replacements: dict[str, str] = {}  # original value -> what replaced it
    for i in sorted(scan.per_text):
        text, found = scan.texts[i], scan.per_text[i]
        result = redact(text, found, mode, known=mapping)
        mapping = dict(result.mapping)
        _set_text(req.messages, scan.refs[i], result.text)
        for f in found:
            value = text[f.start : f.end]
            replacements[value] = f"[REDACTED_{label_for(f.type)}]"
    if mode == "placeholder":
        replacements = {value: placeholder for placeholder, value in mapping.items()}
    if req.raw is not None and replacements:
        replace_strings(req.raw, replacements)
        if _leaks(req, detectors):
            req.raw = None
    return RequestRedaction(summarize(scan.findings), mapping, mode)


def _leaks(req: ChatRequest, detectors: DetectorSet) -> bool:
    """Whether the redacted passthrough body may still hold something the detectors find.

    When every (redacted) message text is one string of the body, those strings are known clean and
    only the others (roles, ids, tool schemas...) are scanned; otherwise (a decoder joined or trimmed
    strings, so a value may be split across two of them) everything is scanned, joined without a
    separator so a split value is found again.
    """
    assert req.raw is not None
    strings = strings_of(req.raw)
    texts, _ = request_texts(req.messages)
    known = set(strings)
    if all(text in known for text in texts):
        clean = set(texts)
        strings = [value for value in strings if value not in clean]
    return bool(strings) and bool(detectors.scan("".join(strings)))


def _set_text(messages: Sequence[Message], ref: TextRef, text: str) -> None:
    index, part = ref
    msg = messages[index]
    if part >= 0:
        msg.content[part].text = text
    else:
        msg.tool_calls[-part - 1].arguments = text


def strings_of(node: Any) -> list[str]:
    """Every string value inside ``node`` in document order (dict keys excluded)."""
    out: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(reversed(item.values()))  # document order
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return out


def replace_strings(node: Any, replacements: Mapping[str, str]) -> Any:
    """Replace every occurrence of each key of ``replacements`` in every string inside ``node``
    (dicts and lists are changed in place; the new value of a bare string is returned)."""
    values = sorted(replacements, key=len, reverse=True)  # a longer value first: it may contain a shorter

    def fix(text: str) -> str:
        for value in values:
            if value in text:
                text = text.replace(value, replacements[value])
        return text

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return fix(item)
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(value, (str, dict, list)):
                    item[key] = walk(value)
        elif isinstance(item, list):
            for index, value in enumerate(item):
                if isinstance(value, (str, dict, list)):
                    item[index] = walk(value)
        return item

    return walk(node)

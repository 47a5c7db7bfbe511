"""Prompt-injection heuristics: instructions smuggled into what a model reads (offline, no model).

Content that comes from users, retrieved context and tool results may carry text written to take
over the model: "ignore all previous instructions", "reveal your system prompt", "you are now DAN",
or chat-template role tags (``<|im_start|>system``, ``[INST]``, ``### System:``) that pretend a new
system turn starts. :class:`InjectionDetector` finds the common forms with one literal search per
anchor word over the lower-cased text and a small regex around each hit, so a clean prompt pays a
few C-speed searches. Findings are typed ``prompt_injection`` with a ``kind`` and a confidence;
they never change a request's trust level and are never redacted. What happens then is policy
(``trust.injection``, see ``trust/stage.py``): recorded in the receipt, or blocked.

It is a heuristic: paraphrases, other languages and encoded payloads get through, and talk *about*
injection ("how do models ignore previous instructions?") is left alone only in the common phrasings.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from adaptive_gateway.trust.memo import Digests, TextMemo
from adaptive_gateway.trust.views import lowered
from adaptive_gateway.types import Message

INJECTION_TYPE = "prompt_injection"
_SEPARATOR = "\n\x00\n"
_REACH = 80  # how far before an anchor word its verb may start ("reveal to me your full system prompt")


@dataclass(frozen=True, slots=True)
class InjectionFinding:
    """One suspected injection; ``text[start:end]`` is the matched phrase."""

    kind: str  # ignore_instructions | new_instructions | prompt_extraction | jailbreak_persona | role_tag
    start: int
    end: int
    confidence: float

    @property
    def type(self) -> str:
        return INJECTION_TYPE


@dataclass(frozen=True, slots=True)
class _Pattern:
    """``regex`` is tried where ``anchor`` occurs: searched from ``_REACH`` characters before it
    (``before``) or matched at it; on the lower-cased text unless ``cased``."""

    kind: str
    anchor: str
    regex: re.Pattern[str]
    confidence: float
    before: bool = False
    cased: bool = False
    talk: bool = False  # skip it when the words before say it is talked about ("how do models ignore")


_FILLER = (
    r"(?:all|any|of|the|your|my|these|those|every|each|previous|previously|prior|above|preceding|earlier"
    r"|former|original|initial|old|existing|current|system|developer|safety|other|given|set|you|were|was"
    r"|have|been|told|received|and)"
)
_NOUNS = (
    r"(?:instructions?|prompts?|rules|guidelines|directions|directives|programming|guardrails|orders|commands"
    r"|tasks|assignments)"
)
# "how do models ignore ...", "do not ignore the system prompt", "tools that bypass ...": talk about it
_DISCUSSION = re.compile(
    r"(?:\bnot|n't|\bthat|\bwhich|\bwho|\bdoes|\bdid|\bnever|\bif\s+(?:you|it|they|the\s+\w+)|\bwhy|\bhow"
    r"|\bwhether|\bmodels?|\bllms?|\bagents?|\bchatbots?)[\s\w]{0,12}$"
)
_ASK = (
    r"(?:reveal|show|print|repeat|output|display|tell\s+me|give\s+me|leak|dump|write\s+out|spell\s+out"
    r"|share|expose|recite|paste)"
)
# a prompt as a thing in an app ("display the system prompt field"), not the model's own
_APP_THING = (
    r"(?!\s+(?:field|template|variable|parameter|setting|box|input|editor|option|column"
    r"|in\s+(?:the|this|our|my)))"
)


def _p(
    kind: str, anchor: str, pattern: str, confidence: float, *, before: bool = False, talk: bool = False
) -> _Pattern:
    return _Pattern(kind, anchor, re.compile(pattern), confidence, before, talk=talk)


_OVERRIDE = rf"\s+(?:{_FILLER}\s+){{1,6}}{_NOUNS}\b"
# "forget everything before that", "ignore everything above"
_EVERYTHING = (
    r"\s+(?:all|everything)\s+(?:(?:you\s+(?:were|have\s+been)\s+told)|above|before\s+(?:this|that)"
    r"|(?:said\s+)?so\s+far)"
)
# "your prompt" / "your instructions", or "the" with a word that says which ("the system prompt")
_EXTRACT = (
    rf"(?:{_ASK}\s+(?:(?:to\s+)?me\s+|back\s+)?(?:your|the)|what\s+(?:is|are|was|were)\s+your|what's\s+your)\s+"
    r"(?:(?:full|entire|complete|exact|whole|verbatim|original|initial|hidden|secret|system|developer)\s+){0,3}"
    r"(?:system\s+prompt|system\s+message|prompt|instructions|developer\s+message)\b" + _APP_THING
)
# "the prompt" alone is any prompt: "the" needs a word that says which ("the system prompt")
_VAGUE_THE = re.compile(
    r"the\s+(?:(?:full|entire|complete|exact|whole|verbatim)\s+)*(?:prompt|instructions)\b"
)
_TEMPLATE_ROLE = r"(?:system|assistant|user|developer)"

_OVERRIDE_VERBS = {
    "ignor": "ignor(?:e|ing)",
    "disregard": "disregard(?:ing)?",
    "forget": "forget(?:ting)?",
    "overrid": "overrid(?:e|ing)",
    "bypass": "bypass(?:ing)?",
}

# the same in German, Spanish, French and Italian: "ignoriere alle vorherigen Anweisungen",
# "ignora todas las instrucciones anteriores", "ignorez toutes les instructions précédentes"
_OVERRIDE_OTHER = (
    r"ignor\w{0,5}\s+(?:sie\s+)?(?:alle|todas|toutes|tutte)\s+(?:\w+\s+){0,2}?"
    r"(?:anweisungen|instruktionen|befehle|regeln|instrucciones|[oó]rdenes|reglas|instructions|consignes"
    r"|règles|istruzioni|regole)"
)

PATTERNS: tuple[_Pattern, ...] = (
    _p("ignore_instructions", "ignor", _OVERRIDE_OTHER, 0.85, talk=True),
    _p(
        "new_instructions",
        "instruction",
        r"(?:^|(?<=[\n.!:>])|(?<=[\n.!:>] ))"  # at the start of a line or sentence
        r"(?:new|updated|revised|real|actual|important)\s+instructions?\s*:",
        0.75,
        before=True,
    ),
    *(
        _p("ignore_instructions", anchor, f"{verb}(?:{_OVERRIDE}|{_EVERYTHING})", 0.9, talk=True)
        for anchor, verb in _OVERRIDE_VERBS.items()
    ),
    *(
        _p("prompt_extraction", anchor, _EXTRACT, 0.85, before=True, talk=True)
        for anchor in ("prompt", "instruction")
    ),
    _p(
        "jailbreak_persona",
        "you are now",
        r"you are now (?:(?:a|an|in|called|going to (?:be|act as)|acting as)\s+)?(?:dan\b|evil|unrestricted"
        r"|unfiltered|uncensored|jailbroken|free (?:from|of)|no longer bound|(?:in\s+)?(?:developer|god|dan)"
        r" mode|an? (?:ai|assistant|model) (?:without|with no) (?:any )?"
        r"(?:restrictions|rules|filters|limits))",
        0.9,
    ),
    _p("jailbreak_persona", "do anything now", r"do anything now", 0.9),
    _p(
        "jailbreak_persona",
        "developer mode",
        r"developer mode (?:enabled|activated|is (?:now )?(?:enabled|on|active))",
        0.8,
    ),
    _Pattern(
        "jailbreak_persona",
        "DAN",
        re.compile(r"DAN(?i:\s+mode|\s*\(do anything now\)|,?\s+(?:you|which|who)\s+(?:can|will|has))"),
        0.85,
        cased=True,
    ),
    _p(
        "role_tag",
        "<|",
        rf"<\|(?:im_start\|>\s*{_TEMPLATE_ROLE}|{_TEMPLATE_ROLE}\|>|start_header_id\|>\s*{_TEMPLATE_ROLE}"
        r"<\|end_header_id\|>)",
        0.95,
    ),
    _p("role_tag", "[inst]", r"\[inst\]\s*(?:<<sys>>\s*)?\S", 0.8),
    _p(
        "role_tag",
        "###",
        r"###\s*(?:system|instructions?|developer|new\s+instructions?)(?:\s+(?:prompt|message))?\s*:",
        0.8,
    ),
)
_CODE_QUOTES = frozenset("`'\"")  # a tag in quotes or a code span is talked about, not smuggled


class InjectionDetector:
    """The compiled patterns; ``scan`` is pure and thread-safe. ``min_confidence`` drops weaker findings."""

    __slots__ = ("_anchors", "min_confidence")

    def __init__(self, min_confidence: float = 0.0) -> None:
        self.min_confidence = min_confidence
        anchors: dict[str, list[_Pattern]] = {}
        for pattern in PATTERNS:
            if pattern.confidence >= min_confidence:
                anchors.setdefault(pattern.anchor, []).append(pattern)
        # one literal search per anchor: re finds a literal prefix in C (faster than str.find here)
        self._anchors = tuple((re.compile(re.escape(a)), tuple(group)) for a, group in anchors.items())

    def scan(self, text: str) -> list[InjectionFinding]:
        """Suspected injections in ``text``, sorted by start, one per phrase."""
        if not text:
            return []
        lower = lowered(text)
        found: dict[int, InjectionFinding] = {}
        for anchor, patterns in self._anchors:
            cased = patterns[0].cased
            for hit in anchor.finditer(text if cased else lower):
                for pattern in patterns:
                    finding = _try(pattern, text if pattern.cased else lower, hit.start(), hit.end())
                    if finding is not None and finding.start not in found:
                        found[finding.start] = finding
        return sorted(found.values(), key=lambda f: f.start)

    def scan_each(self, texts: Sequence[str]) -> list[tuple[InjectionFinding, ...]]:
        """Findings per text (in each text's coordinates), from one pass over the texts joined."""
        if len(texts) == 1:
            return [tuple(self.scan(texts[0]))]
        starts: list[int] = []
        offset = 0
        for text in texts:
            starts.append(offset)
            offset += len(text) + len(_SEPARATOR)
        out: list[list[InjectionFinding]] = [[] for _ in texts]
        for f in self.scan(_SEPARATOR.join(texts)):
            i = bisect.bisect_right(starts, f.start) - 1
            out[i].append(InjectionFinding(f.kind, f.start - starts[i], f.end - starts[i], f.confidence))
        return [tuple(found) for found in out]


def message_texts(messages: Iterable[Message], roles: frozenset[str]) -> list[str]:
    """The text parts of the messages whose role is in ``roles`` (``tool``: tool results); never
    tool-call arguments, which are the model's own output."""
    return [
        part.text
        for msg in messages
        if msg.role in roles
        for part in msg.content
        if part.type == "text" and part.text
    ]


class InjectionPolicy:
    """The compiled ``trust.injection`` section: what to scan, what a finding leads to, and the
    findings of texts already scanned (``trust/memo.py``), so a conversation's earlier turns are not
    scanned again on every request. One per config."""

    __slots__ = ("_memo", "action", "detector", "roles")

    def __init__(
        self, detector: InjectionDetector, action: str, roles: frozenset[str], limit: int = 16_384
    ) -> None:
        self.detector = detector
        self.action = action  # "record" | "block"
        self.roles = roles
        self._memo: TextMemo[InjectionFinding] = TextMemo(limit)

    def scan(self, messages: Iterable[Message], seen: Digests | None = None) -> tuple[InjectionFinding, ...]:
        """Findings in the messages of the configured roles (each in its own text's coordinates);
        ``seen``: the request's text digests so far (``trust/memo.py``)."""
        texts = message_texts(messages, self.roles)
        if not texts:
            return ()
        found = self._memo.results(texts, self.detector.scan_each, seen)
        return tuple(f for hits in found for f in hits)


def _try(pattern: _Pattern, text: str, start: int, end: int) -> InjectionFinding | None:
    if pattern.before:
        match = pattern.regex.search(text, max(0, start - _REACH), end + 24)
        if match is None or match.end() < end or match.start() > start:
            return None
    else:
        match = pattern.regex.match(text, start)
        if match is None:
            return None
        if pattern.kind == "role_tag" and start and text[start - 1] in _CODE_QUOTES:
            return None
    if pattern.talk and _talked_about(text, match):
        return None
    if pattern.kind == "prompt_extraction" and _VAGUE_THE.search(text, match.start(), match.end()):
        return None
    return InjectionFinding(pattern.kind, match.start(), match.end(), pattern.confidence)


def _talked_about(text: str, match: re.Match[str]) -> bool:
    """Whether the words before say the phrase is discussed ("how do models ignore ..."), or it is a
    quoted mention ("'ignore previous instructions' attacks", not a quoted value that goes on)."""
    start, end = match.span()
    if start and text[start - 1] in _CODE_QUOTES and text[end : end + 1] == text[start - 1]:
        return True
    return _DISCUSSION.search(text, max(0, start - 40), start) is not None


def summarize_injection(findings: Sequence[InjectionFinding]) -> dict[str, Any]:
    """What a receipt holds: counts by type and kind, and the highest confidence; never the text."""
    kinds: dict[str, int] = {}
    for f in findings:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    return {
        "findings": {INJECTION_TYPE: len(findings)},
        "kinds": dict(sorted(kinds.items())),
        "confidence": max(f.confidence for f in findings),
    }

"""Fast offline detectors for secrets, PII and configured patterns.

Build a :class:`DetectorSet` once per config (it compiles every regex up front) and call
:meth:`DetectorSet.scan` per text. Scanning is pure and thread-safe; a set holds no mutable state.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from adaptive_gateway.trust import checks
from adaptive_gateway.trust.levels import TrustLevel
from adaptive_gateway.trust.memo import TextMemo
from adaptive_gateway.trust.rules import (
    HIGH_ENTROPY_PATTERN,
    NATIONAL_ID_RULES,
    NUMBER_TOKEN,
    PII_RULES,
    SECRET_RULES,
    Rule,
)
from adaptive_gateway.trust.views import View, Views

CATEGORIES: frozenset[str] = frozenset({"secret", "pii", "custom"})
HIGH_ENTROPY_TYPE = "secret.high_entropy"
_SEARCH_VIEWS: tuple[View, ...] = ("text", "shape")
_CUSTOM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TOKEN_CHARS = frozenset("0A .-")


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected span. ``text[start:end]`` is the sensitive value; never log or echo it."""

    type: str
    start: int
    end: int
    confidence: float
    level: TrustLevel

    @property
    def category(self) -> str:
        """``"secret"``, ``"pii"`` or ``"custom"``."""
        return self.type.partition(".")[0]


@dataclass(frozen=True, slots=True)
class CustomPattern:
    """A configured regex; findings are typed ``custom.<name>``."""

    name: str
    pattern: str
    level: TrustLevel = TrustLevel.CONFIDENTIAL
    confidence: float = 0.9
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class CustomKeywords:
    """Configured whole-word keywords (case-insensitive), e.g. project code names."""

    name: str
    words: tuple[str, ...]
    level: TrustLevel = TrustLevel.CONFIDENTIAL
    confidence: float = 0.9


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """What to detect and which level each finding implies.

    ``entropy_threshold`` (0..1) is the fraction of the maximum Shannon entropy a token of its
    length can have that a high-entropy token must reach; 0.8 keeps random keys and drops
    identifiers. ``level_overrides`` maps a finding type (``"pii.email"``) to a level.
    """

    categories: frozenset[str] = CATEGORIES
    disabled_types: frozenset[str] = frozenset()
    secret_level: TrustLevel = TrustLevel.SECRET
    pii_level: TrustLevel = TrustLevel.CONFIDENTIAL
    level_overrides: Mapping[str, TrustLevel] = field(default_factory=lambda: MappingProxyType({}))
    patterns: tuple[CustomPattern, ...] = ()
    keywords: tuple[CustomKeywords, ...] = ()
    high_entropy: bool = True
    entropy_threshold: float = 0.8
    min_confidence: float = 0.0

    def __post_init__(self) -> None:
        unknown = self.categories - CATEGORIES
        if unknown:
            raise ValueError(f"unknown detector categories {sorted(unknown)}; valid: {sorted(CATEGORIES)}")
        if not 0.0 <= self.entropy_threshold <= 1.0:
            raise ValueError(f"entropy_threshold must be within 0..1, got {self.entropy_threshold}")
        for name in [p.name for p in self.patterns] + [k.name for k in self.keywords]:
            if not _CUSTOM_NAME.match(name):
                raise ValueError(
                    f"invalid custom detector name {name!r}: use lower-case letters, digits, _ or -"
                )


def _custom_rules(config: DetectorConfig) -> list[Rule]:
    rules = []
    for pattern in config.patterns:
        flags = re.IGNORECASE if pattern.ignore_case else 0
        try:
            regex = re.compile(pattern.pattern, flags)
        except re.error as exc:
            raise ValueError(f"custom pattern {pattern.name!r}: invalid regex: {exc}") from exc
        rules.append(Rule(f"custom.{pattern.name}", regex, pattern.confidence, level=pattern.level))
    for keywords in config.keywords:
        words = sorted({w.strip().lower() for w in keywords.words if w.strip()}, key=len, reverse=True)
        if not words:
            raise ValueError(f"custom keywords {keywords.name!r}: no words")
        alternation = "|".join(re.escape(w) for w in words)
        regex = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)
        rule = Rule(f"custom.{keywords.name}", regex, keywords.confidence, anchors=tuple(words))
        rules.append(replace(rule, level=keywords.level))
    return rules


def _high_entropy_rule(config: DetectorConfig) -> Rule:
    check = checks.high_entropy(config.entropy_threshold)
    return Rule(HIGH_ENTROPY_TYPE, HIGH_ENTROPY_PATTERN, 0.6, view="runs", check=check)


def _index(rules: Iterable[Rule], key: Callable[[Rule], tuple[str, ...]]) -> Mapping[str, tuple[Rule, ...]]:
    index: dict[str, list[Rule]] = {}
    for rule in rules:
        for name in key(rule):
            index.setdefault(name, []).append(rule)
    return MappingProxyType({name: tuple(group) for name, group in index.items()})


class DetectorSet:
    """The compiled detectors for one :class:`DetectorConfig`; build once, scan many texts.

    A scan projects the text once (:class:`.views.Views`), then runs four kinds of rules, each
    found through a literal so that a clean prompt never pays for a regex at every position:
    searched rules (one literal-prefix search each), keyword rules (one ``str.find`` per anchor),
    key-format rules (dispatched on the first two characters of each long token, found by
    one search that also feeds the high-entropy check) and national-id rules (dispatched on the
    exact shape of each number token, found by one search). ``bench/trust_bench.py`` measures it.
    """

    __slots__ = ("_anchored", "_entropy", "_prefixed", "_searched", "_shaped", "config", "memo")

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self.memo: TextMemo[Finding] = TextMemo()  # findings per text already scanned (trust/memo.py)
        rules = [self._resolve_level(rule) for rule in self._select_rules()]
        self._entropy = next((r for r in rules if r.type == HIGH_ENTROPY_TYPE), None)
        plain = [r for r in rules if not (r.anchors or r.prefixes or r.shapes) and r is not self._entropy]
        self._searched = tuple((view, tuple(r for r in plain if r.view == view)) for view in _SEARCH_VIEWS)
        self._anchored = _index(rules, lambda rule: rule.anchors)
        self._prefixed = _index(rules, lambda rule: rule.prefixes)
        self._shaped = dict(_index(rules, lambda rule: rule.shapes))  # a dict: looked up per number token

    @property
    def types(self) -> frozenset[str]:
        """Every finding type this set can report."""
        rules = [rule for _, group in self._searched for rule in group]
        indexed = (*self._anchored.values(), *self._prefixed.values(), *self._shaped.values())
        rules += [rule for group in indexed for rule in group]
        return frozenset(rule.type for rule in rules) | ({HIGH_ENTROPY_TYPE} if self._entropy else set())

    def scan(self, text: str) -> list[Finding]:
        """Findings in ``text``, sorted by start, without overlaps (the stronger finding wins)."""
        if not text:
            return []
        views = Views.of(text)
        found: list[Finding] = []
        for view, rules in self._searched:
            target = views.get(view)
            for rule in rules:
                for match in rule.regex.finditer(target):
                    self._confirm(rule, text, *match.span(rule.group), found)
        self._scan_anchored(views, found)
        if self._shaped:
            self._scan_numbers(views, found)
        if self._prefixed or self._entropy:
            self._scan_tokens(views, found)
        return _without_overlaps(found) if len(found) > 1 else found

    def _scan_anchored(self, views: Views, found: list[Finding]) -> None:
        text, lower = views.text, views.lower
        for anchor, rules in self._anchored.items():
            position = lower.find(anchor)
            while position >= 0:
                for rule in rules:
                    match = rule.regex.match(text, position)
                    if match is not None:
                        self._confirm(rule, text, *match.span(rule.group), found)
                position = lower.find(anchor, position + 1)

    def _scan_numbers(self, views: Views, found: list[Finding]) -> None:
        text, shape, shaped = views.text, views.shape, self._shaped
        labels: dict[checks.Label, list[int]] = {}  # where each label's words end, found when first needed
        for token in NUMBER_TOKEN.finditer(shape):
            start, end = token.span()
            if start and shape[start - 1] in _TOKEN_CHARS:  # the token began before its first "000"
                start = checks.token_start(shape, start)
            for rule in shaped.get(shape[start:end], ()):
                label = rule.label
                if label is not None:
                    ends = labels.get(label)
                    if ends is None:
                        ends = labels[label] = label.ends(views.lower)
                    if not (ends and label.near(ends, start)):
                        continue
                if rule.regex.fullmatch(text, start, end) is not None:
                    self._confirm(rule, text, start, end, found)

    def _scan_tokens(self, views: Views, found: list[Finding]) -> None:
        text, prefixed, entropy = views.text, self._prefixed, self._entropy
        for run in HIGH_ENTROPY_PATTERN.finditer(views.runs):
            before = len(found)
            for start in _token_starts(text, *run.span()):
                for rule in prefixed.get(text[start : start + 2], ()):
                    match = rule.regex.match(text, start)
                    if match is not None:
                        self._confirm(rule, text, *match.span(rule.group), found)
            # A run already reported as a known key format needs no entropy estimate.
            if entropy is not None and len(found) == before:
                self._confirm(entropy, text, *run.span(), found)

    def _confirm(self, rule: Rule, text: str, start: int, end: int, out: list[Finding]) -> None:
        factor = 1.0
        if rule.check is not None:
            accepted = rule.check(text, start, end)
            if accepted is None:
                return
            start, end, factor = accepted
        confidence = round(rule.confidence * factor, 3)
        if end > start and confidence >= self.config.min_confidence:
            level = TrustLevel.PUBLIC if rule.level is None else rule.level
            out.append(Finding(rule.type, start, end, confidence, level))

    def _select_rules(self) -> list[Rule]:
        config = self.config
        rules = [*SECRET_RULES, *PII_RULES, *NATIONAL_ID_RULES]
        if config.high_entropy:
            rules.append(_high_entropy_rule(config))
        rules.extend(_custom_rules(config))
        return [r for r in rules if r.category in config.categories and r.type not in config.disabled_types]

    def _resolve_level(self, rule: Rule) -> Rule:
        config = self.config
        defaults = {"secret": config.secret_level, "pii": config.pii_level}
        level = config.level_overrides.get(rule.type, rule.level)
        return replace(rule, level=defaults[rule.category] if level is None else level)


def _token_starts(text: str, start: int, end: int) -> list[int]:
    """Where a key can begin inside a long run: its start and after each ``/`` or ``+``."""
    run = text[start:end]
    if "/" not in run and "+" not in run:
        return [start]
    return [start] + [start + index + 1 for index, char in enumerate(run) if char in "/+"]


def _strength(finding: Finding) -> tuple[int, float, int]:
    return (finding.level, finding.confidence, finding.end - finding.start)


def _without_overlaps(findings: list[Finding]) -> list[Finding]:
    """Keep the strongest of any overlapping findings (level, then confidence, then length)."""
    starts: list[int] = []
    kept: list[Finding] = []
    for finding in sorted(findings, key=_strength, reverse=True):
        index = bisect.bisect_right(starts, finding.start)
        if index and kept[index - 1].end > finding.start:
            continue
        if index < len(kept) and kept[index].start < finding.end:
            continue
        starts.insert(index, finding.start)
        kept.insert(index, finding)
    return kept


def summarize(findings: Iterable[Finding]) -> dict[str, int]:
    """Counts by finding type (``{"pii.email": 2}``): safe to log, never contains values."""
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.type] = counts.get(finding.type, 0) + 1
    return dict(sorted(counts.items()))

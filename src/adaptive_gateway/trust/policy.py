"""Pure trust-policy decisions: a request's level, which providers may see it, and what to do.

Nothing here performs I/O. Consents are passed in as the set of granted ledger scopes:
``provider:<name>`` allows using a hosted provider at all, and ``provider:<name>:<level>``
allows sending data up to ``<level>`` to it beyond the locality maximum (see :func:`level_scope`).
Reasons and verdicts name finding *types* and counts only, never the values.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeVar, get_args

from adaptive_gateway.trust.detectors import Finding, summarize
from adaptive_gateway.trust.levels import TrustLevel, max_level
from adaptive_gateway.trust.redaction import Mode

Action = Literal["allow", "redact", "route-local", "block"]
Locality = Literal["local", "hosted"]
VerdictKind = Literal["allow", "redact", "route_local", "block"]
_T = TypeVar("_T")

DEFAULT_ACTIONS: Mapping[TrustLevel, Action] = MappingProxyType(
    {
        TrustLevel.PUBLIC: "allow",
        TrustLevel.INTERNAL: "allow",
        TrustLevel.CONFIDENTIAL: "route-local",
        TrustLevel.SECRET: "route-local",
    }
)
DEFAULT_MAX_LEVELS: Mapping[Locality, TrustLevel] = MappingProxyType(
    {"local": TrustLevel.SECRET, "hosted": TrustLevel.INTERNAL}
)


_ACTION_NAMES: Mapping[str, Action] = MappingProxyType({name: name for name in get_args(Action)})
_LOCALITY_NAMES: Mapping[str, Locality] = MappingProxyType({name: name for name in get_args(Locality)})
_MODE_NAMES: Mapping[str, Mode] = MappingProxyType({name: name for name in get_args(Mode)})


@dataclass(frozen=True, slots=True)
class PolicyRules:
    """Per-level actions and per-locality maximum levels; missing entries take the defaults.

    Defaults: public and internal are allowed; confidential and secret are routed to a local
    deployment; hosted providers take at most internal, local ones at most secret.
    """

    actions: Mapping[TrustLevel, Action] = field(default_factory=lambda: DEFAULT_ACTIONS)
    max_levels: Mapping[Locality, TrustLevel] = field(default_factory=lambda: DEFAULT_MAX_LEVELS)
    redact_mode: Mode = "placeholder"

    def __post_init__(self) -> None:
        for level, action in self.actions.items():
            _named(_ACTION_NAMES, action, f"actions.{TrustLevel.parse(level)}")
        for locality in self.max_levels:
            _named(_LOCALITY_NAMES, locality, "max_levels")
        _named(_MODE_NAMES, self.redact_mode, "redact_mode")

    def action_for(self, level: TrustLevel) -> Action:
        """The configured action for ``level``."""
        return self.actions.get(level, DEFAULT_ACTIONS[level])

    def max_for(self, locality: Locality) -> TrustLevel:
        """The highest level a provider of ``locality`` may receive without a level grant."""
        return self.max_levels.get(locality, DEFAULT_MAX_LEVELS[locality])

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> PolicyRules:
        """Build rules from plain config data, e.g. parsed YAML::

            {"actions": {"confidential": "redact"}, "max_levels": {"hosted": "internal"},
             "redact_mode": "mask"}

        Raises ``ValueError`` naming the offending key for unknown keys, levels or actions.
        """
        unknown = set(data) - {"actions", "max_levels", "redact_mode"}
        if unknown:
            raise ValueError(f"policy: unknown keys {sorted(unknown)}")
        actions = _str_mapping(data.get("actions", {}), "actions")
        max_levels = _str_mapping(data.get("max_levels", {}), "max_levels")
        return cls(
            actions={
                _level_at(key, f"actions.{key}"): _named(_ACTION_NAMES, value, f"actions.{key}")
                for key, value in actions.items()
            },
            max_levels={
                _named(_LOCALITY_NAMES, key, "max_levels"): _level_at(value, f"max_levels.{key}")
                for key, value in max_levels.items()
            },
            redact_mode=_named(_MODE_NAMES, str(data.get("redact_mode", "placeholder")), "redact_mode"),
        )


def _named(names: Mapping[str, _T], value: object, path: str) -> _T:
    if not isinstance(value, str) or value not in names:
        raise ValueError(f"{path}: unknown value {value!r}; valid: {', '.join(names)}")
    return names[value]


def _str_mapping(value: object, path: str) -> Mapping[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"{path}: expected a mapping of names to strings")
    return value


def _level_at(value: str, path: str) -> TrustLevel:
    try:
        return TrustLevel.parse(value)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


DEFAULT_RULES = PolicyRules()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The policy outcome for one request and provider; safe to log and to put in a receipt."""

    kind: VerdictKind
    reason: str
    level: TrustLevel
    findings: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    redact_mode: Mode | None = None


def describe_findings(counts: Mapping[str, int]) -> str:
    """``"pii.email x2, secret.openai_key x1"``: types and counts, never values."""
    if not counts:
        return "none"
    return ", ".join(f"{kind} x{count}" for kind, count in sorted(counts.items()))


def provider_scope(provider: str) -> str:
    """Ledger scope that allows using hosted provider ``provider`` at all."""
    return f"provider:{provider}"


def level_scope(provider: str, level: TrustLevel) -> str:
    """Ledger scope that allows sending data up to ``level`` to ``provider`` beyond its maximum."""
    return f"provider:{provider}:{level.label}"


def consented_for(consents: Collection[str], provider: str, level: TrustLevel) -> bool:
    """Whether a grant covers sending ``level`` data to ``provider`` (a higher grant covers lower)."""
    return any(level_scope(provider, granted) in consents for granted in TrustLevel if granted >= level)


def eligible(
    level: TrustLevel,
    locality: Locality,
    max_levels: Mapping[Locality, TrustLevel],
    consents: Collection[str],
    *,
    provider: str,
) -> bool:
    """Whether a route candidate may receive a request at ``level``.

    A hosted candidate needs the ``provider:<name>`` grant; any candidate needs ``level`` within
    its locality maximum or a level grant (``provider:<name>:<level>``). Apply this to fallbacks
    as well as to the first choice.
    """
    if locality == "hosted" and provider_scope(provider) not in consents:
        return False
    cap = max_levels.get(locality, DEFAULT_MAX_LEVELS[locality])
    return level <= cap or consented_for(consents, provider, level)


def decide(
    level: TrustLevel,
    findings: Iterable[Finding],
    provider_locality: Locality,
    consented: bool,
    *,
    rules: PolicyRules = DEFAULT_RULES,
    local_available: bool = False,
    residual_level: TrustLevel | None = None,
) -> Verdict:
    """What to do with a request at ``level`` about to go to a provider of ``provider_locality``.

    ``consented`` (a level grant for this provider) lifts the locality maximum and route-local,
    never a ``block`` action. ``redact`` is chosen when the level's action says so, or when the
    level exceeds the maximum but ``residual_level`` (the level without detector findings, which
    redaction removes) fits. Otherwise an over-maximum request is routed to a local deployment
    when ``local_available``, else blocked.
    """
    counts = MappingProxyType(summarize(findings))
    action = rules.action_for(level)
    cap = rules.max_for(provider_locality)
    found = f"; findings: {describe_findings(counts)}"

    def verdict(kind: VerdictKind, reason: str) -> Verdict:
        mode = rules.redact_mode if kind == "redact" else None
        return Verdict(kind, reason + found, level, counts, mode)

    if action == "block":
        return verdict("block", f"policy blocks {level} requests")
    over_cap = level > cap and not consented
    wants_local = action == "route-local" and provider_locality == "hosted" and not consented
    if not over_cap and not wants_local:
        if action == "redact" and counts:
            return verdict("redact", f"policy redacts {level} requests")
        consent_note = " (consent on record)" if consented and level > cap else ""
        return verdict("allow", f"{level} is allowed for {provider_locality} providers{consent_note}")
    if action == "redact" and counts and residual_level is not None and residual_level <= cap:
        return verdict(
            "redact", f"{level} exceeds the {provider_locality} maximum {cap}; redaction lowers it"
        )
    reason = (
        f"{level} exceeds the {provider_locality} maximum {cap}"
        if over_cap
        else f"policy routes {level} requests to local deployments"
    )
    if local_available and provider_locality == "hosted":
        return verdict("route_local", reason)
    return verdict("block", reason + "; no local deployment may take it")


def classify(
    default_level: TrustLevel,
    header_level: TrustLevel | None,
    header_may_lower: bool,
    source_tags: Mapping[str, TrustLevel],
    findings: Iterable[Finding],
) -> tuple[TrustLevel, list[str]]:
    """A request's trust level and the reasons for it, in the order they were applied.

    The level is the highest of: the key's default, the ``x-trust-level`` header (which may lower
    the default only when ``header_may_lower``), the tags of context sources used, and the levels
    detector findings imply.
    """
    level = default_level
    reasons = [f"key default: {default_level}"]
    if header_level is not None:
        if header_level > level:
            level = header_level
            reasons.append(f"header x-trust-level: {header_level} raised the level")
        elif header_level < level and header_may_lower:
            level = header_level
            reasons.append(f"header x-trust-level: {header_level} lowered the level (key may lower)")
        elif header_level < level:
            reasons.append(f"header x-trust-level: {header_level} ignored (key may not lower the level)")
    for source, tag in sorted(source_tags.items()):
        if tag > level:
            reasons.append(f"source {source} tagged {tag}")
        level = max_level(level, tag)
    findings = list(findings)
    detected = max_level(*(finding.level for finding in findings))
    if findings and detected > level:
        reasons.append(f"detectors found {describe_findings(summarize(findings))}: {detected}")
        level = detected
    return level, reasons

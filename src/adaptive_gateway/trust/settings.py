"""The compiled ``trust:`` config: detectors, policy rules, per-provider maxima and per-key defaults.

:func:`compile_trust` turns the validated config section into :class:`TrustSettings` once per config
(the gateway caches it by config, so a reload swaps it); nothing here runs per request except the
small lookups on the result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from adaptive_gateway.config import Provider
from adaptive_gateway.config.schema import ProviderConfig
from adaptive_gateway.config.trust_schema import (
    DecisionEndpoint,
    PrincipalTrust,
    ReceiptOptions,
    TrustConfig,
)
from adaptive_gateway.trust.detectors import CustomKeywords, CustomPattern, DetectorConfig, DetectorSet
from adaptive_gateway.trust.injection import InjectionDetector, InjectionPolicy
from adaptive_gateway.trust.levels import TrustLevel
from adaptive_gateway.trust.policy import Action, PolicyRules

_CONSENT_MODES: Mapping[object, str] = MappingProxyType({True: "hosted", False: "above-max"})


@dataclass(frozen=True, slots=True)
class PrincipalDefaults:
    """What a caller's own settings say: its default level, whether it may lower it, run recording."""

    level: TrustLevel
    may_lower: bool
    record_runs: bool
    source: str  # "trust.keys.<id>", "the key's trust level", "trust.default_level"...
    reason: str = field(init=False, compare=False)  # the first line of a request's trust reasons

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", f"default: {self.level} ({self.source})")


@dataclass(frozen=True, slots=True)
class TrustSettings:
    """Everything the trust stage needs, built once per config."""

    enabled: bool
    detectors: DetectorSet
    rules: PolicyRules
    default_level: TrustLevel
    provider_caps: Mapping[str, TrustLevel]  # providers with their own max_trust
    require_consent: str  # "auto" | "hosted" | "above-max"
    keys: Mapping[str, PrincipalTrust]
    tenants: Mapping[str, PrincipalTrust]
    decision: DecisionEndpoint | None
    injection: InjectionPolicy | None  # None: not scanned
    memory_reads_ttl: float  # seconds memory items read over MCP count for the key that read them
    receipts: ReceiptOptions
    record_runs: bool
    ledger_poll_seconds: float
    version: str  # policy version: a digest of the trust section and the provider maxima
    # defaults of a caller with no key or tenant settings: (not admin, admin)
    plain: tuple[PrincipalDefaults, PrincipalDefaults]
    # principal_defaults per (key id, tenant, key level, admin): every request of a keyed caller asks
    _defaults: dict[tuple[str | None, str | None, str | None, bool], PrincipalDefaults] = field(
        default_factory=dict, compare=False, repr=False
    )

    def cap_for(self, provider: Provider) -> TrustLevel:
        """The highest level ``provider`` may receive without a level grant."""
        cap = self.provider_caps.get(provider.name)
        return cap if cap is not None else self.rules.max_for(provider.locality)

    def action_for(self, level: TrustLevel) -> Action:
        return self.rules.action_for(level)

    def principal_defaults(
        self, principal_id: str | None, tenant: str | None, key_level: str | None, admin: bool
    ) -> PrincipalDefaults:
        """The caller's default level (the highest of its key's and its tenant's settings, else
        ``default_level``), whether the header may lower it (admins may, unless their key says
        otherwise) and whether its requests are recorded as runs."""
        memo = (principal_id, tenant, key_level, admin)
        found = self._defaults.get(memo)
        if found is not None:
            return found
        key = self.keys.get(principal_id) if principal_id else None
        ten = self.tenants.get(tenant) if tenant else None
        if key is None and ten is None and not key_level:
            found = self.plain[admin]  # the common case, built once per config
        else:
            found = self._principal_defaults(principal_id, tenant, key, ten, key_level, admin)
        if len(self._defaults) >= 10_000:
            self._defaults.clear()
        self._defaults[memo] = found
        return found

    def _principal_defaults(
        self,
        principal_id: str | None,
        tenant: str | None,
        key: PrincipalTrust | None,
        ten: PrincipalTrust | None,
        key_level: str | None,
        admin: bool,
    ) -> PrincipalDefaults:
        levels: list[tuple[TrustLevel, str]] = []
        if key is not None and key.level is not None:
            levels.append((TrustLevel.parse(key.level), f"trust.keys.{principal_id}"))
        if key_level:
            levels.append((TrustLevel.parse(key_level), "the key's trust level"))
        if ten is not None and ten.level is not None:
            levels.append((TrustLevel.parse(ten.level), f"trust.tenants.{tenant}"))
        level, source = max(levels, default=(self.default_level, "trust.default_level"))
        may_lower = _first(_get(key, "may_lower"), _get(ten, "may_lower"), admin)
        record = _first(_get(key, "record_runs"), _get(ten, "record_runs"), self.record_runs)
        return PrincipalDefaults(level, may_lower, record, source)


def _get(settings: PrincipalTrust | None, name: str) -> bool | None:
    value = getattr(settings, name, None) if settings is not None else None
    return value if isinstance(value, bool) else None


def _first(*values: bool | None) -> bool:
    return next((v for v in values if v is not None), False)


def _detector_config(section: TrustConfig) -> DetectorConfig:
    opts = section.detectors
    return DetectorConfig(
        categories=frozenset(opts.categories),
        disabled_types=frozenset(opts.disabled),
        secret_level=TrustLevel.parse(opts.secret_level),
        pii_level=TrustLevel.parse(opts.pii_level),
        level_overrides=MappingProxyType({k: TrustLevel.parse(v) for k, v in opts.levels.items()}),
        patterns=tuple(
            CustomPattern(p.name, p.pattern, TrustLevel.parse(p.level), ignore_case=p.ignore_case)
            for p in section.patterns
        ),
        keywords=tuple(
            CustomKeywords(k.name, tuple(k.words), TrustLevel.parse(k.level)) for k in section.keywords
        ),
        high_entropy=opts.high_entropy,
        entropy_threshold=opts.entropy_threshold,
        min_confidence=opts.min_confidence,
    )


def _injection(section: TrustConfig) -> InjectionPolicy | None:
    opts = section.injection
    if not opts.enabled:
        return None
    return InjectionPolicy(InjectionDetector(opts.min_confidence), opts.action, frozenset(opts.roles))


def policy_version(section: TrustConfig, providers: Mapping[str, ProviderConfig]) -> str:
    """A short digest of everything that decides policy: changes whenever a rule changes."""
    data = {
        "trust": section.model_dump(mode="json"),
        "max_trust": {name: p.max_trust for name, p in sorted(providers.items())},
    }
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def compile_trust(section: TrustConfig, providers: Mapping[str, ProviderConfig]) -> TrustSettings:
    """Build the runtime settings; raises ``ValueError`` only for input the schema already refuses."""
    rules = PolicyRules.from_mapping(
        {
            "actions": dict(section.actions),
            "max_levels": dict(section.max_levels),
            "redact_mode": section.redact_mode,
        }
    )
    caps = {name: TrustLevel.parse(p.max_trust) for name, p in providers.items() if p.max_trust}
    level = TrustLevel.parse(section.default_level)
    consent = section.require_consent
    return TrustSettings(
        enabled=section.enabled,
        detectors=DetectorSet(_detector_config(section)),
        rules=rules,
        default_level=level,
        provider_caps=MappingProxyType(caps),
        require_consent=_CONSENT_MODES[consent] if isinstance(consent, bool) else consent,
        keys=MappingProxyType(dict(section.keys)),
        tenants=MappingProxyType(dict(section.tenants)),
        decision=section.decision,
        injection=_injection(section),
        memory_reads_ttl=section.memory.reads_ttl_seconds,
        receipts=section.receipts,
        record_runs=section.record_runs,
        ledger_poll_seconds=section.ledger_poll_seconds,
        version=policy_version(section, providers),
        plain=(
            PrincipalDefaults(level, False, section.record_runs, "trust.default_level"),
            PrincipalDefaults(level, True, section.record_runs, "trust.default_level"),
        ),
    )

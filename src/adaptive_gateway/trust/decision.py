"""The typed outcome of the trust stage for one request, as recorded on the request context.

``ctx.notes["trust"]`` holds a :class:`TrustDecision`; :meth:`TrustDecision.summary` is what receipts,
simulations and the external decision endpoint see: levels, reasons, finding types and counts, never
a value. The placeholder mapping (the sensitive values) stays on the decision and is never serialized.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from adaptive_gateway.trust.content import RequestRedaction
from adaptive_gateway.trust.eligibility import Veto
from adaptive_gateway.trust.injection import InjectionFinding, summarize_injection
from adaptive_gateway.trust.levels import TrustLevel
from adaptive_gateway.trust.opa import ExternalDecision
from adaptive_gateway.trust.policy import Action, Verdict, describe_findings
from adaptive_gateway.trust.settings import PrincipalDefaults

TRUST_NOTE = "trust"
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(slots=True)
class TrustDecision:
    level: TrustLevel  # the request's level (the highest of default, header, sources, findings)
    residual: TrustLevel  # the level without detector findings (what redaction can bring it down to)
    defaults: PrincipalDefaults
    reasons: list[str]
    findings: dict[str, int]
    sources: dict[str, TrustLevel]
    policy_version: str
    effective: TrustLevel = TrustLevel.PUBLIC  # the level candidates must accept (after redaction)
    action: Action = "allow"
    verdict: Verdict | None = None
    veto: Veto | None = None
    redaction: RequestRedaction | None = None
    external: ExternalDecision | None = None
    vetoed: tuple[tuple[str, str], ...] = ()  # (deployment id, reason), checked before routing
    record_runs: bool = False
    run_request: dict[str, Any] | None = None  # the request as the client sent it (run ledger only)
    injection: tuple[InjectionFinding, ...] = ()  # suspected prompt injections (never the text)
    injection_action: str = "record"

    @property
    def mapping(self) -> Mapping[str, str]:
        """Placeholder -> original value; empty unless placeholders were used. Sensitive."""
        return self.redaction.mapping if self.redaction is not None else _EMPTY

    def summary(self) -> dict[str, Any]:
        """JSON-able and safe to store: no values, only types, counts, levels and reasons."""
        verdict = self.verdict
        out: dict[str, Any] = {
            "level": self.level.label,
            "effective_level": self.effective.label,
            "default_level": self.defaults.level.label,
            "reasons": list(self.reasons),
            "findings": dict(self.findings),
            "findings_text": describe_findings(self.findings),
            "sources": {name: level.label for name, level in self.sources.items()},
            "action": self.action,
            "verdict": {"kind": verdict.kind, "reason": verdict.reason} if verdict else None,
            "policy_version": self.policy_version,
        }
        if self.redaction is not None:
            out["redacted"] = {"mode": self.redaction.mode, "counts": dict(self.redaction.counts)}
        if self.external is not None:
            out["decision_endpoint"] = self.external.as_dict()
        if self.vetoed:
            out["vetoed"] = [{"deployment": d, "reason": why} for d, why in self.vetoed]
        if self.injection:
            out["injection"] = {**summarize_injection(self.injection), "action": self.injection_action}
        return out

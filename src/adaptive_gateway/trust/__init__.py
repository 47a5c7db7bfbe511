"""Trust: levels, offline detectors (secrets, PII, custom), redaction and policy decisions.

Everything here is pure and I/O-free; build a :class:`DetectorSet` once per config and keep it on
the app state. See docs/trust.md.
"""

from adaptive_gateway.trust.detectors import (
    CustomKeywords,
    CustomPattern,
    DetectorConfig,
    DetectorSet,
    Finding,
    summarize,
)
from adaptive_gateway.trust.levels import TrustLevel, max_level
from adaptive_gateway.trust.policy import (
    PolicyRules,
    Verdict,
    classify,
    consented_for,
    decide,
    eligible,
    level_scope,
    provider_scope,
)
from adaptive_gateway.trust.redaction import Redacted, StreamRestorer, redact, restore

__all__ = [
    "CustomKeywords",
    "CustomPattern",
    "DetectorConfig",
    "DetectorSet",
    "Finding",
    "PolicyRules",
    "Redacted",
    "StreamRestorer",
    "TrustLevel",
    "Verdict",
    "classify",
    "consented_for",
    "decide",
    "eligible",
    "level_scope",
    "max_level",
    "provider_scope",
    "redact",
    "restore",
    "summarize",
]

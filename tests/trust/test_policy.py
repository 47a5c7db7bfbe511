from __future__ import annotations

import pytest

from adaptive_gateway.trust.detectors import Finding
from adaptive_gateway.trust.levels import TrustLevel
from adaptive_gateway.trust.policy import (
    DEFAULT_MAX_LEVELS,
    PolicyRules,
    classify,
    consented_for,
    decide,
    describe_findings,
    eligible,
    level_scope,
    provider_scope,
)

P, I, C, S = TrustLevel.PUBLIC, TrustLevel.INTERNAL, TrustLevel.CONFIDENTIAL, TrustLevel.SECRET  # noqa: E741
KEY = Finding("secret.openai_key", 4, 60, 0.95, S)
EMAIL = Finding("pii.email", 70, 85, 0.95, C)


@pytest.mark.parametrize(
    ("level", "locality", "local_available", "kind"),
    [
        (P, "hosted", False, "allow"),
        (I, "hosted", False, "allow"),
        (C, "hosted", True, "route_local"),
        (C, "hosted", False, "block"),
        (S, "hosted", True, "route_local"),
        (S, "hosted", False, "block"),
        (C, "local", False, "allow"),
        (S, "local", True, "allow"),
    ],
)
def test_defaults_keep_confidential_and_secret_off_hosted_providers(
    level: TrustLevel, locality: str, local_available: bool, kind: str
) -> None:
    verdict = decide(level, [KEY] if level is S else [], locality, False, local_available=local_available)  # type: ignore[arg-type]
    assert verdict.kind == kind
    assert verdict.level is level


def test_consent_lifts_the_locality_maximum() -> None:
    verdict = decide(C, [EMAIL], "hosted", True)
    assert verdict.kind == "allow"
    assert "consent on record" in verdict.reason


def test_block_action_wins_over_consent_and_never_echoes_values() -> None:
    rules = PolicyRules(actions={S: "block"})
    verdict = decide(S, [KEY, EMAIL, EMAIL], "local", True, rules=rules)
    assert verdict.kind == "block"
    assert dict(verdict.findings) == {"pii.email": 2, "secret.openai_key": 1}
    assert "secret.openai_key x1" in verdict.reason and "pii.email x2" in verdict.reason
    assert "sk-" not in verdict.reason


def test_redact_action_applies_when_findings_exist() -> None:
    rules = PolicyRules(actions={I: "redact"}, redact_mode="mask")
    redacted = decide(I, [Finding("custom.codename", 0, 4, 0.9, I)], "hosted", False, rules=rules)
    assert (redacted.kind, redacted.redact_mode) == ("redact", "mask")
    assert decide(I, [], "hosted", False, rules=rules).kind == "allow"


def test_redaction_can_bring_an_over_maximum_request_within_reach() -> None:
    rules = PolicyRules(actions={C: "redact"})
    assert decide(C, [EMAIL], "hosted", False, rules=rules, residual_level=I).kind == "redact"
    # Without knowing what is left after redaction the request stays over the maximum.
    assert decide(C, [EMAIL], "hosted", False, rules=rules).kind == "block"
    # A level that comes from the key or a tag (no findings) cannot be redacted away.
    assert (
        decide(C, [], "hosted", False, rules=rules, residual_level=I, local_available=True).kind
        == "route_local"
    )


def test_route_local_action_below_the_maximum() -> None:
    rules = PolicyRules(actions={I: "route-local"})
    assert decide(I, [], "hosted", False, rules=rules, local_available=True).kind == "route_local"
    assert decide(I, [], "local", False, rules=rules).kind == "allow"


def test_custom_maximum_levels() -> None:
    # Raising the hosted maximum alone is not enough: the confidential action is still route-local.
    rules = PolicyRules(max_levels={"hosted": C})
    assert decide(C, [EMAIL], "hosted", False, rules=rules).kind == "block"
    rules = PolicyRules(actions={C: "allow"}, max_levels={"hosted": C})
    assert decide(C, [EMAIL], "hosted", False, rules=rules).kind == "allow"
    assert rules.max_for("local") is S


def test_rules_from_mapping() -> None:
    rules = PolicyRules.from_mapping(
        {"actions": {"confidential": "redact"}, "max_levels": {"hosted": "public"}, "redact_mode": "mask"}
    )
    assert rules.action_for(C) == "redact"
    assert rules.action_for(S) == "route-local"
    assert rules.max_for("hosted") is P
    assert rules.redact_mode == "mask"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": "red"}, "unknown keys"),
        ({"actions": {"top": "allow"}}, "actions.top"),
        ({"actions": {"secret": "shred"}}, "actions.secret: unknown value 'shred'"),
        ({"max_levels": {"cloud": "internal"}}, "max_levels: unknown value 'cloud'"),
        ({"max_levels": {"hosted": "high"}}, "max_levels.hosted"),
        ({"redact_mode": "blur"}, "redact_mode"),
        ({"actions": ["allow"]}, "actions: expected a mapping"),
    ],
)
def test_rules_from_mapping_name_the_bad_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PolicyRules.from_mapping(data)


def test_scopes_and_consent() -> None:
    assert provider_scope("openai") == "provider:openai"
    assert level_scope("openai", C) == "provider:openai:confidential"
    grants = {"provider:openai", "provider:openai:secret"}
    assert consented_for(grants, "openai", C)
    assert consented_for(grants, "openai", S)
    assert not consented_for({"provider:openai:confidential"}, "openai", S)
    assert not consented_for(grants, "anthropic", C)


def test_eligible_filters_route_candidates() -> None:
    grants = {"provider:openai", "provider:anthropic", "provider:anthropic:confidential"}
    levels = DEFAULT_MAX_LEVELS
    assert eligible(I, "hosted", levels, grants, provider="openai")
    assert not eligible(C, "hosted", levels, grants, provider="openai")
    assert eligible(C, "hosted", levels, grants, provider="anthropic")
    assert not eligible(S, "hosted", levels, grants, provider="anthropic")
    assert not eligible(P, "hosted", levels, grants, provider="groq"), "hosted use needs a grant"
    assert eligible(S, "local", levels, set(), provider="ollama")
    assert not eligible(S, "local", {"local": C}, set(), provider="ollama")


def test_classify_takes_the_highest_source() -> None:
    level, reasons = classify(I, None, False, {}, [])
    assert (level, reasons) == (I, ["key default: internal"])

    level, reasons = classify(I, S, False, {}, [])
    assert level is S and "header x-trust-level: secret raised the level" in reasons

    level, reasons = classify(C, P, False, {}, [])
    assert level is C and any("ignored" in reason for reason in reasons)

    level, reasons = classify(C, P, True, {}, [])
    assert level is P and any("lowered" in reason for reason in reasons)

    level, reasons = classify(P, P, True, {"memory:notes/q3": C, "file:README.md": P}, [EMAIL])
    assert level is C
    assert "source memory:notes/q3 tagged confidential" in reasons
    assert not any("README" in reason for reason in reasons)

    level, reasons = classify(P, None, False, {}, [EMAIL, KEY])
    assert level is S
    assert reasons[-1] == "detectors found pii.email x1, secret.openai_key x1: secret"


def test_header_lowering_does_not_hide_findings() -> None:
    level, _ = classify(C, P, True, {}, [KEY])
    assert level is S


def test_describe_findings() -> None:
    assert describe_findings({}) == "none"
    assert describe_findings({"secret.jwt": 1, "pii.email": 2}) == "pii.email x2, secret.jwt x1"

from __future__ import annotations

import re

import pytest

from adaptive_gateway.trust.detectors import (
    CustomKeywords,
    CustomPattern,
    DetectorConfig,
    DetectorSet,
    Finding,
    summarize,
)
from adaptive_gateway.trust.levels import TrustLevel

# Fake, format-valid values (random characters; never real credentials).
OPENAI = "sk-proj-Q2x8Lm4Np7Rt1Vz9Bc3Df6Gh0Jk5Ws8Ya2Ec4Hu7T3BlbkFJx1Yc2Vb3Nm4"
ANTHROPIC = "sk-ant-api03-" + "Zk8vQ2mX7pL4nR9sT1wY6bC3dF5gH0jKaB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV1wX2yZ3" + "AA"
AWS = "AKIAQ3EGRT7Y2XMPLKZD"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


@pytest.fixture(scope="module")
def detectors() -> DetectorSet:
    return DetectorSet()


def values(text: str, findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in findings]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        (f"key={OPENAI}", "secret.openai_key", OPENAI),
        (f"x-api-key: {ANTHROPIC}", "secret.anthropic_key", ANTHROPIC),
        (f"id {AWS} leaked", "secret.aws_access_key", AWS),
        (f"https://{GITHUB}@github.com/acme/x.git", "secret.github_token", GITHUB),
        ("mail jane.doe@example.com now", "pii.email", "jane.doe@example.com"),
        ("call +44 20 7946 0958", "pii.phone", "+44 20 7946 0958"),
        ("office (415) 555-2671.", "pii.phone", "(415) 555-2671"),
        ("card 4111 1111 1111 1111 ok", "pii.credit_card", "4111 1111 1111 1111"),
        ("iban DE89 3704 0044 0532 0130 00 THEN", "pii.iban", "DE89 3704 0044 0532 0130 00"),
        ("ssn 536-22-1947.", "pii.us_ssn", "536-22-1947"),
        ("from http://93.184.216.34:8080/x", "pii.ip_address", "93.184.216.34"),
        ("dns 2606:4700:4700::1111 ok", "pii.ip_address", "2606:4700:4700::1111"),
        ("postgres://app:Tr0ub4dor3x@db.internal:5432/main ok", "secret.connection_string",
         "postgres://app:Tr0ub4dor3x@db.internal:5432/main"),
        ('db_password = "Sup3r-S3cret-Passw0rd"', "secret.credential_assignment", "Sup3r-S3cret-Passw0rd"),
    ],
)  # fmt: skip
def test_finds_each_type_with_exact_span(detectors: DetectorSet, text: str, kind: str, value: str) -> None:
    assert values(text, detectors.scan(text)) == [(kind, value)]


def test_levels_confidence_and_order(detectors: DetectorSet) -> None:
    text = f"mail bob@example.com, key {OPENAI}"
    email, key = detectors.scan(text)
    assert (email.type, email.level, key.type, key.level) == (
        "pii.email",
        TrustLevel.CONFIDENTIAL,
        "secret.openai_key",
        TrustLevel.SECRET,
    )
    assert email.start < key.start
    assert 0 < email.confidence <= 1 and 0 < key.confidence <= 1
    assert email.category == "pii" and key.category == "secret"


def test_overlapping_findings_keep_the_strongest(detectors: DetectorSet) -> None:
    # The password inside the URL also looks like an e-mail address ("pw@db.example.com").
    text = "redis://user:pw0rd-9Xk@db.example.com:6379/0"
    assert [f.type for f in detectors.scan(text)] == ["secret.connection_string"]


def test_private_key_block_is_one_finding(detectors: DetectorSet) -> None:
    text = (
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAq9Fz/Lw2Rk7T+vBn3XcYp8Jm1HdGs5Ua0\n"
        "-----END RSA PRIVATE KEY-----\nbye"
    )
    [finding] = detectors.scan(text)
    assert finding.type == "secret.private_key"
    assert text[finding.start : finding.end].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert text[finding.start : finding.end].endswith("-----END RSA PRIVATE KEY-----")


def test_spans_are_exact_after_non_ascii_text(detectors: DetectorSet) -> None:
    # "\u0130" lower-cases to two characters, which must not shift any span.
    text = "Grüße aus Köln 🎉 — an jürgen.müller@example.de oder ann\u0130@example.de, Tel. +49 221 1234567"
    assert values(text, detectors.scan(text)) == [
        ("pii.email", "jürgen.müller@example.de"),
        ("pii.email", "ann\u0130@example.de"),
        ("pii.phone", "+49 221 1234567"),
    ]


def test_empty_text(detectors: DetectorSet) -> None:
    assert detectors.scan("") == []


def test_scan_never_compiles_a_regex(detectors: DetectorSet, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        f"{OPENAI} bob@example.com 4111 1111 1111 1111 password='Xk9mPq2wLz7' Tel: 030 1234567, 93.184.216.34"
    )
    detectors.scan(text)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("regex compiled during scan")

    monkeypatch.setattr(re, "_compile", forbidden)
    assert len(detectors.scan(text)) == 6


def test_categories_and_disabled_types() -> None:
    text = f"bob@example.com {OPENAI} 93.184.216.34"
    only_secrets = DetectorSet(DetectorConfig(categories=frozenset({"secret"})))
    assert [f.type for f in only_secrets.scan(text)] == ["secret.openai_key"]
    assert [f.type for f in DetectorSet().scan(text)] == ["pii.email", "secret.openai_key", "pii.ip_address"]
    no_ip = DetectorSet(DetectorConfig(disabled_types=frozenset({"pii.ip_address"})))
    assert [f.type for f in no_ip.scan(text)] == ["pii.email", "secret.openai_key"]
    assert "pii.ip_address" not in no_ip.types


def test_level_configuration() -> None:
    config = DetectorConfig(
        pii_level=TrustLevel.INTERNAL,
        level_overrides={"pii.credit_card": TrustLevel.SECRET, "secret.high_entropy": TrustLevel.PUBLIC},
    )
    found = {
        f.type: f.level
        for f in DetectorSet(config).scan("a@example.com 4111111111111111 Zk8vQ2mX7pL4nR9sT1wY6bC3")
    }
    assert found == {
        "pii.email": TrustLevel.INTERNAL,
        "pii.credit_card": TrustLevel.SECRET,
        "secret.high_entropy": TrustLevel.PUBLIC,
    }


def test_custom_patterns_and_keywords() -> None:
    config = DetectorConfig(
        patterns=(CustomPattern("ticket", r"\bPROJ-\d{3,6}\b", TrustLevel.INTERNAL),),
        keywords=(CustomKeywords("codename", ("Blue Falcon", "nightjar"), TrustLevel.SECRET),),
    )
    text = "PROJ-1234 is about blue falcon; Nightjar ships soon; nightjars are birds"
    found = values(text, DetectorSet(config).scan(text))
    assert found == [
        ("custom.ticket", "PROJ-1234"),
        ("custom.codename", "blue falcon"),
        ("custom.codename", "Nightjar"),
    ]
    levels = {f.type: f.level for f in DetectorSet(config).scan(text)}
    assert levels == {"custom.ticket": TrustLevel.INTERNAL, "custom.codename": TrustLevel.SECRET}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (lambda: DetectorConfig(categories=frozenset({"pii", "medical"})), "unknown detector categories"),
        (lambda: DetectorConfig(entropy_threshold=1.5), "entropy_threshold"),
        (lambda: DetectorConfig(patterns=(CustomPattern("Bad Name", "x"),)), "invalid custom detector name"),
        (
            lambda: DetectorSet(DetectorConfig(patterns=(CustomPattern("broken", "(unclosed"),))),
            "invalid regex",
        ),
        (lambda: DetectorSet(DetectorConfig(keywords=(CustomKeywords("empty", (" ",)),))), "no words"),
    ],
)
def test_invalid_configuration_is_explained(config: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config()  # type: ignore[operator]


def test_min_confidence_and_entropy_switch() -> None:
    text = "token Zk8vQ2mX7pL4nR9sT1wY6bC3 and 10.0.0.7"
    assert [f.type for f in DetectorSet().scan(text)] == ["secret.high_entropy", "pii.ip_address"]
    assert DetectorSet(DetectorConfig(min_confidence=0.7)).scan(text) == []
    assert [f.type for f in DetectorSet(DetectorConfig(high_entropy=False)).scan(text)] == ["pii.ip_address"]


def test_summarize_counts_types_only() -> None:
    findings = [
        Finding("pii.email", 0, 5, 0.9, TrustLevel.CONFIDENTIAL),
        Finding("secret.jwt", 6, 9, 0.9, TrustLevel.SECRET),
        Finding("pii.email", 10, 15, 0.9, TrustLevel.CONFIDENTIAL),
    ]
    assert summarize(findings) == {"pii.email": 2, "secret.jwt": 1}


def test_long_texts_stay_linear(detectors: DetectorSet) -> None:
    # Pathological inputs for backtracking regexes: long runs of digits, separators and key chars.
    # A catastrophic pattern would hang here until the pytest timeout.
    texts = [
        "1" * 50_000, "1-" * 25_000, "a@" * 25_000, "x" * 50_000, "A0 " * 20_000, ":1" * 25_000,
        "password=" * 5_000, "xoxb-" + "1-" * 25_000, "+1" + "1" * 50_000, "DE89" + "0" * 50_000,
        "sk-" * 15_000, "a://b:c@" * 6_000, "phone: " + "1 " * 25_000,
        "-----BEGIN EC PRIVATE KEY-----" * 2_000, "1 " * 25_000, "1." * 25_000, "A1" * 25_000,
        "000 " * 12_500, "SIN " * 12_500,
    ]  # fmt: skip
    for text in texts:
        detectors.scan(text)


# ---- national ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("NINO: AB 12 34 56 C.", "pii.uk_nino", "AB 12 34 56 C"),
        ("ni number AB123456C", "pii.uk_nino", "AB123456C"),
        ("SIN 390 139 624", "pii.ca_sin", "390 139 624"),
        ("sin: 390-139-624)", "pii.ca_sin", "390-139-624"),
        ("Social Insurance Number 390139624", "pii.ca_sin", "390139624"),
        ("Aadhaar 6148 5253 8885 linked", "pii.in_aadhaar", "6148 5253 8885"),
        ("aadhaar no. 614852538885", "pii.in_aadhaar", "614852538885"),
        ("CPF 529.982.247-25", "pii.br_cpf", "529.982.247-25"),
        ("cpf: 52998224725", "pii.br_cpf", "52998224725"),
        ("DNI 12345678Z", "pii.es_dni", "12345678Z"),
        ("(NIE X1234567L)", "pii.es_dni", "X1234567L"),
        ("BSN 1112.22.333", "pii.nl_bsn", "1112.22.333"),
        ("burgerservicenummer: 111222333", "pii.nl_bsn", "111222333"),
        ("C.F. RSSMRA80A01H501U", "pii.it_fiscal_code", "RSSMRA80A01H501U"),
        ("n° sécu 1 44 04 83 236 056 24", "pii.fr_nir", "1 44 04 83 236 056 24"),
        ("NIR 144048323605624", "pii.fr_nir", "144048323605624"),
        ("Steuer-ID 86 095 742 719", "pii.de_tax_id", "86 095 742 719"),
        ("IdNr. 86095742719", "pii.de_tax_id", "86095742719"),
        ("ssn 536-22-1947.", "pii.us_ssn", "536-22-1947"),
    ],
)  # fmt: skip
def test_finds_national_ids(detectors: DetectorSet, text: str, kind: str, value: str) -> None:
    assert values(text, detectors.scan(text)) == [(kind, value)]


@pytest.mark.parametrize(
    "text",
    [
        "NINO QQ 12 34 56 C (the example number)",  # Q is never a first letter
        "ref GB123456A",  # GB is not an allocated prefix
        "SIN 390 139 625",  # check digit off by one
        "SIN 046 454 286",  # the government's sample: 0 is never issued
        "Order #390139624 shipped",  # a valid SIN / BSN checksum, but no word says it is one
        "tracking 111222333",
        "Aadhaar 6148 5253 8886",
        "invoice 614852538885",  # bare 12 digits need the word "Aadhaar"
        "CPF 529.982.247-26",
        "order 52998224725",  # bare 11 digits need the word "CPF" (this is not a valid IdNr)
        "DNI 12345678A",
        "part no. 12345678Z-B",
        "BSN 111222334",
        "CF RSSMRA80A01H501V",
        "NIR 144048323605625",
        "IdNr 86095742718",
        "build 1234 5678 9012 3456 done",  # 16 digits in groups: not an Aadhaar number inside
        "ids x12345678Z and 12345678Zeta",
        "values 390 139 624 1",
    ],
)
def test_national_id_lookalikes_are_not_findings(detectors: DetectorSet, text: str) -> None:
    assert detectors.scan(text) == []


def test_national_id_types_are_configurable() -> None:
    detectors = DetectorSet(DetectorConfig(disabled_types=frozenset({"pii.es_dni"})))
    assert "pii.es_dni" not in detectors.types and {"pii.uk_nino", "pii.de_tax_id"} <= detectors.types
    assert detectors.scan("DNI 12345678Z") == []
    config = DetectorConfig(level_overrides={"pii.fr_nir": TrustLevel.SECRET})
    (finding,) = DetectorSet(config).scan("NIR 144048323605624")
    assert finding.level == TrustLevel.SECRET

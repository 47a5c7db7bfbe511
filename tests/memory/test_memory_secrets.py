from __future__ import annotations

from dataclasses import dataclass

from adaptive_gateway.memory import DetectSecretsScanner, default_scanner
from adaptive_gateway.memory.secrets import TrustDetectorScanner

CLEAN = """---
id: use-redis-6eadc063fa20
type: decision
trust_level: internal
created_at: '2026-11-23T14:21:30.997310Z'
---

Run `git checkout 98c5ac108036fc3bbef7aaff9602ed0d1a18b67f` and `pytest -k breaker`.
The password policy says rotate keys every 90 days.
"""


def test_detect_secrets_scanner_finds_key_shapes_with_lines() -> None:
    scanner = DetectSecretsScanner()
    text = (
        "intro\nkey " + "AKIA" + "ABCDEFGHIJKLMNOP\n-----BEGIN OPENSSH PRIVATE KEY-----\nsk-ant-" + "a" * 30
    )
    found = {(finding.type, finding.line) for finding in scanner.scan(text)}
    assert ("AWS Access Key", 2) in found
    assert ("Private Key", 3) in found
    assert ("Anthropic API Key", 4) in found


def test_scanners_leave_ordinary_notes_alone() -> None:
    assert DetectSecretsScanner().scan(CLEAN) == []
    assert list(default_scanner().scan(CLEAN)) == []


@dataclass(frozen=True)
class _Found:
    type: str


class _Detectors:
    def scan(self, text: str) -> list[_Found]:
        return [_Found("pii.email"), _Found("secret.jwt")]


def test_trust_detector_adapter_keeps_only_secrets() -> None:
    assert [finding.type for finding in TrustDetectorScanner(_Detectors()).scan("x")] == ["secret.jwt"]

"""Secret scanning for push: a small protocol, a detect-secrets based default, and an adapter for
the gateway's own trust detectors (``adaptive_gateway.trust.detectors.DetectorSet``) when present.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class SecretFinding(Protocol):
    """Anything with a ``type`` naming what was found (``"AWS Access Key"``, ``"secret.jwt"``)."""

    @property
    def type(self) -> str: ...


class SecretScanner(Protocol):
    """Finds secrets in text; an empty result means the text is clean."""

    def scan(self, text: str) -> Sequence[SecretFinding]: ...


@dataclass(frozen=True)
class Finding:
    type: str
    line: int


# detect-secrets plugins that match on the shape of a credential; keyword and entropy plugins are
# left out because prose notes trip them constantly.
_PLUGINS = (
    ("aws", "AWSKeyDetector"),
    ("private_key", "PrivateKeyDetector"),
    ("github_token", "GitHubTokenDetector"),
    ("gitlab_token", "GitLabTokenDetector"),
    ("slack", "SlackDetector"),
    ("stripe", "StripeDetector"),
    ("openai", "OpenAIDetector"),
    ("pypi_token", "PypiTokenDetector"),
    ("npm", "NpmDetector"),
    ("sendgrid", "SendGridDetector"),
    ("twilio", "TwilioKeyDetector"),
    ("discord", "DiscordBotTokenDetector"),
    ("jwt", "JwtTokenDetector"),
    ("azure_storage_key", "AzureStorageKeyDetector"),
    ("mailchimp", "MailchimpDetector"),
    ("artifactory", "ArtifactoryDetector"),
    ("basic_auth", "BasicAuthDetector"),
)
# Shapes detect-secrets does not know.
_EXTRA_PATTERNS = (
    ("Anthropic API Key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    ("Google API Key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    ("Hugging Face Token", r"\bhf_[A-Za-z0-9]{34,}\b"),
    ("Groq API Key", r"\bgsk_[A-Za-z0-9]{48,}\b"),
)


class DetectSecretsScanner:
    """Regex detectors from the ``detect-secrets`` package plus a few newer key shapes."""

    def __init__(self) -> None:
        self._plugins: list[Any] = [
            getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), name)()
            for module, name in _PLUGINS
        ]
        self._extra = [(kind, re.compile(pattern)) for kind, pattern in _EXTRA_PATTERNS]

    def scan(self, text: str) -> list[Finding]:
        findings: list[Finding] = []
        for number, line in enumerate(text.splitlines(), start=1):
            for plugin in self._plugins:
                if any(True for _ in plugin.analyze_string(line)):
                    findings.append(Finding(str(plugin.secret_type), number))
            findings.extend(Finding(kind, number) for kind, regex in self._extra if regex.search(line))
        return findings


class TrustDetectorScanner:
    """Adapts the trust detectors, keeping only ``secret.*`` findings (PII is not a push blocker)."""

    def __init__(self, detectors: Any) -> None:
        self._detectors = detectors

    def scan(self, text: str) -> list[SecretFinding]:
        found: Sequence[SecretFinding] = self._detectors.scan(text)
        return [finding for finding in found if str(finding.type).startswith("secret")]


def default_scanner() -> SecretScanner:
    """The gateway's trust detectors when that module is available, else detect-secrets."""
    try:
        module = importlib.import_module("adaptive_gateway.trust.detectors")
        return TrustDetectorScanner(module.DetectorSet())
    except ImportError:
        return DetectSecretsScanner()
    except Exception:  # a broken detector module must not leave pushes unguarded
        logger.warning("trust detectors unavailable; using detect-secrets", exc_info=True)
        return DetectSecretsScanner()

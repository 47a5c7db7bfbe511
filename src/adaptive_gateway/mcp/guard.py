"""Content checks on tool arguments: what trust level a text implies, and which secrets it holds.

Uses the gateway's trust detectors (``adaptive_gateway.trust.detectors.DetectorSet``) when they
load, else the memory package's detect-secrets scanner (secrets only). Scanning is pure; the
detectors are compiled once per guard.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from adaptive_gateway.memory import DetectSecretsScanner, TrustLevel

log = logging.getLogger("adaptive_gateway.mcp")

# findings of the detect-secrets fallback carry no level: they are all secrets
_CATEGORY_LEVEL = {
    "secret": TrustLevel.SECRET,
    "pii": TrustLevel.CONFIDENTIAL,
    "custom": TrustLevel.CONFIDENTIAL,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a text carries: the most sensitive level found and the finding types (never values)."""

    level: TrustLevel
    types: tuple[str, ...] = ()

    @property
    def secret_types(self) -> tuple[str, ...]:
        return tuple(t for t in self.types if t.startswith("secret"))


CLEAN = Verdict(TrustLevel.PUBLIC)


def _load_detectors() -> Any:
    try:
        return importlib.import_module("adaptive_gateway.trust.detectors").DetectorSet()
    except ImportError:
        return DetectSecretsScanner()
    except Exception:  # a broken detector module must not leave arguments unchecked
        log.warning("trust detectors unavailable; checking tool arguments with detect-secrets", exc_info=True)
        return DetectSecretsScanner()


def _level_of(finding: Any) -> TrustLevel:
    label = getattr(getattr(finding, "level", None), "label", None)
    if isinstance(label, str):
        return TrustLevel.parse(label)
    kind = str(finding.type)
    return _CATEGORY_LEVEL.get(kind.partition(".")[0], TrustLevel.SECRET)


class ContentGuard:
    """Scans texts and JSON arguments; one instance per app (the detectors are compiled once)."""

    def __init__(self, detectors: Any | None = None) -> None:
        self._detectors = detectors  # compiled on first use: most apps never scan anything

    def scan(self, text: str) -> Verdict:
        if not text:
            return CLEAN
        if self._detectors is None:
            self._detectors = _load_detectors()
        findings: Sequence[Any] = self._detectors.scan(text)
        if not findings:
            return CLEAN
        level = max((_level_of(f) for f in findings), key=lambda lv: lv.rank)
        return Verdict(level, tuple(sorted({str(f.type) for f in findings})))

    def scan_arguments(self, args: Any) -> Verdict:
        """Scan every string in ``args`` at once (as JSON text, so keys and values both count)."""
        return self.scan(orjson.dumps(args).decode() if args else "")

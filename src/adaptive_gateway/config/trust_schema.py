"""The ``trust:`` section of the config: levels, per-level policy, detectors, consent, receipts, runs.

Every field has a safe default, so a config without ``trust:`` still scans every request and keeps
confidential and secret content away from hosted providers (docs/trust.md). Validation errors name
the path (``trust.patterns[0].pattern: invalid regex ...``); the section is compiled into the
runtime view (``adaptive_gateway.trust.settings``) once per config, never per request.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator

Level = Literal["public", "internal", "confidential", "secret"]
Action = Literal["allow", "redact", "route-local", "block"]
ConsentMode = Literal["auto", "hosted", "above-max"]
DetectorName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_type(name: str) -> str:
    if name.startswith("custom."):
        return name
    from adaptive_gateway.trust.detectors import DetectorSet

    known = DetectorSet().types
    if name not in known:
        raise ValueError(f"unknown finding type '{name}'; known: {', '.join(sorted(known))}, custom.<name>")
    return name


class TrustPattern(_Strict):
    """A custom regex detector; findings are typed ``custom.<name>``."""

    name: DetectorName
    pattern: str
    level: Level = "confidential"
    ignore_case: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from None
        return value


class TrustKeywords(_Strict):
    """Whole-word keywords (case-insensitive), such as project code names."""

    name: DetectorName
    words: list[Annotated[str, StringConstraints(min_length=1)]] = Field(min_length=1)
    level: Level = "confidential"


class DetectorOptions(_Strict):
    categories: list[Literal["secret", "pii", "custom"]] = ["secret", "pii", "custom"]
    disabled: list[str] = Field([], description="finding types not reported, e.g. pii.ip_address")
    levels: dict[str, Level] = Field({}, description="level per finding type, e.g. pii.email: internal")
    secret_level: Level = "secret"
    pii_level: Level = "confidential"
    high_entropy: bool = True
    entropy_threshold: float = Field(0.8, ge=0, le=1)
    min_confidence: float = Field(0.0, ge=0, le=1)

    @field_validator("disabled")
    @classmethod
    def _disabled_known(cls, value: list[str]) -> list[str]:
        return [_known_type(name) for name in value]

    @field_validator("levels")
    @classmethod
    def _levels_known(cls, value: dict[str, Level]) -> dict[str, Level]:
        return {_known_type(name): level for name, level in value.items()}


class PrincipalTrust(_Strict):
    """Trust settings of one key (by key id) or tenant; unset fields fall back to the defaults."""

    level: Level | None = None  # default level of its requests
    may_lower: bool | None = None  # may the x-trust-level header lower it
    record_runs: bool | None = None  # write a run folder for each of its requests


class DecisionEndpoint(_Strict):
    """An external decision service compatible with OPA's data API (``POST /v1/data/<path>``)."""

    url: Annotated[str, StringConstraints(pattern=r"^https?://[^/\s]+/v1/data(/[^\s]*)?$")]
    timeout: float = Field(0.5, gt=0, le=30, description="seconds")
    on_error: Literal["deny", "allow"] = "deny"  # also used when the decision is undefined
    token: SecretStr | None = None  # sent as Authorization: Bearer


class InjectionOptions(_Strict):
    """Prompt-injection heuristics (trust/injection.py) over the text of the messages of ``roles``."""

    enabled: bool = True
    action: Literal["record", "block"] = "record"  # record: in the receipt only; block: refuse (403)
    min_confidence: float = Field(0.7, ge=0, le=1, description="weaker findings are not reported")
    roles: list[Literal["system", "developer", "user", "assistant", "tool"]] = Field(
        ["user", "tool"], min_length=1, description="whose text is scanned; tool = tool results"
    )


class MemorySourceOptions(_Strict):
    """Shared-memory items as context sources (trust/memory_sources.py)."""

    reads_ttl_seconds: float = Field(
        1800, ge=0, description="items a key read over MCP raise its requests for this long; 0: never"
    )


class ReceiptOptions(_Strict):
    enabled: bool = True
    record_content: bool = False  # message text in receipts (hashes are always there)
    max_content_level: Level = "internal"  # ... and only up to this level
    retention_days: int = Field(
        90,
        ge=0,
        description="day files older than this many days are deleted (at start, then hourly); 0 keeps all",
    )


class RunOptions(_Strict):
    """Run folders (``<home>/runs/<receipt id>/``), written when ``record_runs`` is on."""

    retention_days: int = Field(
        30,
        ge=0,
        description="run folders older than this many days are deleted (at start, then hourly); 0 keeps all",
    )


class TrustConfig(_Strict):
    enabled: bool = True  # false: no scanning and no trust policy at all (not recommended)
    default_level: Level = "public"  # of keys and tenants without their own
    actions: dict[Level, Action] = Field(
        {}, description="per level; defaults: public/internal allow, confidential/secret route-local"
    )
    max_levels: dict[Literal["local", "hosted"], Level] = Field(
        {}, description="highest level per locality without a grant; defaults: local secret, hosted internal"
    )
    redact_mode: Literal["placeholder", "mask"] = "placeholder"
    # hosted: every hosted provider needs a `provider:<name>` grant; above-max: only data above its
    # maximum needs a `provider:<name>:<level>` grant; auto: `hosted` once the ledger records provider
    # decisions (init does), else `above-max`. A revoked `provider:<name>` always excludes it.
    require_consent: ConsentMode | bool = "auto"
    detectors: DetectorOptions = DetectorOptions()
    patterns: list[TrustPattern] = []
    keywords: list[TrustKeywords] = []
    keys: dict[str, PrincipalTrust] = {}  # key id ("master" for the master key) -> settings
    tenants: dict[str, PrincipalTrust] = {}
    decision: DecisionEndpoint | None = None
    injection: InjectionOptions = InjectionOptions()
    memory: MemorySourceOptions = MemorySourceOptions()
    receipts: ReceiptOptions = ReceiptOptions()
    record_runs: bool = False
    runs: RunOptions = RunOptions()
    ledger_poll_seconds: float = Field(1.0, gt=0, description="how often the consent ledger is re-read")

    @field_validator("patterns", "keywords")
    @classmethod
    def _unique_names(cls, value: list[TrustPattern] | list[TrustKeywords]) -> object:
        names = [item.name for item in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate detector names {duplicates}")
        return value

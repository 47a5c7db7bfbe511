"""Typed payloads of the admin API (and the CLI, which validates through the same models).

Unknown fields are rejected (422 naming the field); names and metadata are stored verbatim.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["admin", "tenant-admin", "viewer"]
Period = Literal["day", "week", "month", "total"]
TrustName = Literal["public", "internal", "confidential", "secret"]
Name = Field(min_length=1, max_length=200)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LimitFields(_In):
    budget_usd: float | None = Field(None, ge=0, description="USD per budget period; null = no budget")
    budget_period: Period | None = Field(None, description="day, week, month or total (default: config)")
    budget_hard: bool = Field(True, description="true: reject when exhausted; false: alert only")
    rpm: int | None = Field(None, ge=1, description="requests per minute")
    tpm: int | None = Field(None, ge=1, description="tokens per minute (input + output)")
    max_concurrency: int | None = Field(None, ge=1, description="requests in flight")


class KeyFields(LimitFields):
    tenant_id: str | None = None
    user_id: str | None = None
    role: Role | None = Field(None, description="admin API role; null = API access only")
    allowed_models: list[str] | None = Field(None, description="model names or aliases; null = all")
    trust_level: TrustName | None = None
    max_tokens: int | None = Field(None, ge=1, description="max output tokens per request")
    max_cost_usd: float | None = Field(None, gt=0, description="max estimated cost per request")
    ip_allow: list[str] | None = Field(None, description="CIDR allow-list; null = any address")
    expires_at: dt.datetime | None = None
    metadata: dict[str, Any] = {}

    @field_validator("ip_allow")
    @classmethod
    def _cidrs(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out = []
        for item in value:
            try:
                out.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ValueError(f"'{item}' is not an IP address or CIDR range") from None
        return out

    @field_validator("expires_at")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value


class KeyCreate(KeyFields):
    name: str = Name


class KeyUpdate(KeyFields):
    """Only the fields sent are changed."""

    name: str | None = Field(None, min_length=1, max_length=200)
    budget_hard: bool = True
    metadata: dict[str, Any] = {}


class RotateRequest(_In):
    grace_seconds: int = Field(3600, ge=0, le=30 * 86400, description="how long the old key keeps working")


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    tenant_id: str | None
    user_id: str | None
    role: str | None
    allowed_models: list[str] | None
    trust_level: str | None
    budget_usd: float | None
    budget_period: str | None
    budget_hard: bool
    rpm: int | None
    tpm: int | None
    max_concurrency: int | None
    max_tokens: int | None
    max_cost_usd: float | None
    ip_allow: list[str] | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    prev_expires_at: dt.datetime | None = Field(None, description="the rotated-out key works until then")
    metadata: dict[str, Any]
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class KeyCreated(KeyOut):
    key: str = Field(description="the key itself: shown once, never stored")


class TenantCreate(LimitFields):
    name: str = Name
    metadata: dict[str, Any] = {}


class TenantUpdate(LimitFields):
    name: str | None = Field(None, min_length=1, max_length=200)
    metadata: dict[str, Any] = {}


class TenantOut(BaseModel):
    id: str
    name: str
    budget_usd: float | None
    budget_period: str | None
    budget_hard: bool
    rpm: int | None
    tpm: int | None
    max_concurrency: int | None
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class UserCreate(_In):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field("", max_length=200)
    tenant_id: str | None = None
    role: Role | None = None
    metadata: dict[str, Any] = {}


class UserUpdate(_In):
    email: str | None = Field(None, min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str | None = Field(None, max_length=200)
    tenant_id: str | None = None
    role: Role | None = None
    metadata: dict[str, Any] = {}


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    tenant_id: str | None
    role: str | None
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime

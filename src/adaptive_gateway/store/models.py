"""Tables. Money is integer nano-USD (exact sums on every database); times are naive UTC."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NANO = 1_000_000_000  # nano-USD per USD
# SQLite only auto-increments an INTEGER PRIMARY KEY
AutoId = BigInteger().with_variant(Integer(), "sqlite")


_EPOCH = dt.datetime(1970, 1, 1)


def utcnow() -> dt.datetime:
    """Naive UTC now, as every timestamp column stores it (40 % cheaper than
    ``datetime.now(UTC).replace(tzinfo=None)``)."""
    return from_epoch(time.time())


def from_epoch(seconds: float) -> dt.datetime:
    """Naive UTC of epoch seconds (rows queued with ``time.time()`` become column values when written)."""
    return _EPOCH + dt.timedelta(seconds=seconds)


def to_epoch(naive_utc: dt.datetime) -> float:
    """Epoch seconds of a naive UTC datetime (the inverse of :func:`from_epoch`)."""
    return (naive_utc - _EPOCH).total_seconds()


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class Limits:
    """Columns shared by tenants and keys."""

    budget_usd: Mapped[float | None] = mapped_column(Float)
    budget_period: Mapped[str | None] = mapped_column(String(8))
    budget_hard: Mapped[bool] = mapped_column(Boolean, default=True)
    rpm: Mapped[int | None] = mapped_column(Integer)
    tpm: Mapped[int | None] = mapped_column(Integer)
    max_concurrency: Mapped[int | None] = mapped_column(Integer)


class Tenant(Limits, Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id", ondelete="SET NULL"))
    role: Mapped[str | None] = mapped_column(String(16))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class VirtualKey(Limits, Base):
    __tablename__ = "virtual_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(80), unique=True)
    prefix: Mapped[str] = mapped_column(String(32))
    prev_key_hash: Mapped[str | None] = mapped_column(String(80))
    prev_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    role: Mapped[str | None] = mapped_column(String(16))
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON)
    trust_level: Mapped[str | None] = mapped_column(String(32))
    max_tokens: Mapped[int | None] = mapped_column(Integer)
    max_cost_usd: Mapped[float | None] = mapped_column(Float)
    ip_allow: Mapped[list[str] | None] = mapped_column(JSON)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Usage(Base):
    __tablename__ = "usage"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    key_id: Mapped[str | None] = mapped_column(String(40))
    tenant_id: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(100))
    deployment: Mapped[str | None] = mapped_column(String(300))
    route: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_nano: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (
        Index("ix_usage_created_at", "created_at"),
        Index("ix_usage_key_created", "key_id", "created_at"),
        Index("ix_usage_tenant_created", "tenant_id", "created_at"),
    )


class UsageDaily(Base):
    """Per day, key, tenant, model and provider ('' where none); kept after raw rows expire."""

    __tablename__ = "usage_daily"
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    provider: Mapped[str] = mapped_column(String(100), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_nano: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        Index("ix_usage_daily_tenant_day", "tenant_id", "day"),
        Index("ix_usage_daily_key_day", "key_id", "day"),
    )


class Spend(Base):
    """Spend per key or tenant per day; budget periods are sums of days."""

    __tablename__ = "spend"
    scope: Mapped[str] = mapped_column(String(8), primary_key=True)  # key | tenant
    scope_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    cost_nano: Mapped[int] = mapped_column(BigInteger, default=0)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(128))
    url: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # delivered | failed
    attempts: Mapped[int] = mapped_column(Integer)
    response_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime)


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Meta(Base):
    """Counters such as ``keys_version``, bumped with every key / tenant / user change."""

    __tablename__ = "gateway_meta"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Recording(Base):
    """A recorded prompt and answer (``observability.recording``), as sent upstream: after redaction,
    never a key. Queries, writes and retention live in ``store/recordings.py``."""

    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(128))  # clients may reuse ids: not unique
    receipt_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    key_id: Mapped[str | None] = mapped_column(String(40))
    key_prefix: Mapped[str | None] = mapped_column(String(32))
    tenant_id: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(100))
    deployment: Mapped[str | None] = mapped_column(String(300))
    route: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    trust_level: Mapped[str | None] = mapped_column(String(16))
    trace_id: Mapped[str | None] = mapped_column(String(32))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_nano: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{"role", "text"}]
    response: Mapped[str | None] = mapped_column(Text)
    redacted: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"mode", "counts"}: no values
    error: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (
        Index("ix_recordings_created_at", "created_at"),
        Index("ix_recordings_request_id", "request_id"),
        Index("ix_recordings_key_created", "key_id", "created_at"),
        Index("ix_recordings_tenant_created", "tenant_id", "created_at"),
    )

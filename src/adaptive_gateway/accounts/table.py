"""The in-memory key table: every virtual key's hash -> its entry, rebuilt from the store whenever the
``keys_version`` counter moves (see :mod:`adaptive_gateway.accounts.refresh`). Authentication is a
dict lookup: unknown, revoked and expired keys are refused without a database round trip."""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from adaptive_gateway.errors import AuthenticationFailed
from adaptive_gateway.pipeline.context import Principal
from adaptive_gateway.state import LeaseOp, WindowOp
from adaptive_gateway.store.models import NANO, Meta, Tenant, User, VirtualKey, to_epoch

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
KEYS_VERSION = "keys_version"


@dataclass(frozen=True, slots=True)
class Budget:
    usd: float
    period: str
    hard: bool
    limit_nano: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "limit_nano", round(self.usd * NANO))


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """Limits of a key or tenant (None: unlimited)."""

    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    budget: Budget | None = None

    @property
    def empty(self) -> bool:
        return self.rpm is None and self.tpm is None and self.max_concurrency is None and self.budget is None


@dataclass(frozen=True, slots=True)
class Scope:
    """One subject of limits (a key, a tenant or a model) with its counter keys precomputed."""

    kind: str  # key | tenant | model
    id: str
    name: str
    limits: LimitSpec
    rpm_key: str = ""
    tpm_key: str = ""
    lease_key: str = ""
    budget_prefix: str = ""
    estimates: bool = False  # needs token / cost estimates (TPM or a budget)
    rpm_op: WindowOp | None = None  # the ops that never change, built once
    lease_op: LeaseOp | None = None


def make_scope(kind: str, sid: str, name: str, limits: LimitSpec) -> Scope:
    rpm_key, lease_key = f"w:{kind}:{sid}:r", f"c:{kind}:{sid}"
    return Scope(
        kind,
        sid,
        name,
        limits,
        rpm_key,
        f"w:{kind}:{sid}:t",
        lease_key,
        f"b:{kind}:{sid}:",
        limits.tpm is not None or limits.budget is not None,
        WindowOp(rpm_key, limits.rpm, 1) if limits.rpm is not None else None,
        LeaseOp(lease_key, limits.max_concurrency) if limits.max_concurrency is not None else None,
    )


@dataclass(frozen=True, slots=True)
class TenantEntry:
    id: str
    name: str
    limits: LimitSpec


@dataclass(frozen=True, slots=True)
class KeyEntry:
    id: str
    name: str
    prefix: str
    principal: Principal
    limits: LimitSpec
    tenant: TenantEntry | None = None
    role: str | None = None
    trust_level: str | None = None
    max_tokens: int | None = None
    max_cost_nano: int | None = None
    networks: tuple[Network, ...] | None = None
    expires_at: float | None = None
    revoked: bool = False
    scopes: tuple[Scope, ...] = ()  # the key's and its tenant's limits, when set


@dataclass(slots=True)
class KeyTable:
    version: int = -1
    by_hash: dict[str, tuple[KeyEntry, float | None]] = field(default_factory=dict)  # hash -> (entry, expiry)
    by_id: dict[str, KeyEntry] = field(default_factory=dict)
    tenants: dict[str, TenantEntry] = field(default_factory=dict)

    def lookup(self, digest: str, now: float | None = None) -> KeyEntry | None:
        """The live entry for a key hash; None when unknown; raises 401 when revoked or expired."""
        hit = self.by_hash.get(digest)
        if hit is None:
            return None
        entry, expires = hit
        if entry.revoked:
            raise AuthenticationFailed("this API key has been revoked")
        if expires is not None and (now or time.time()) >= expires:
            when = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            raise AuthenticationFailed(f"this API key expired at {when}")
        return entry

    def resolve(self, digest: str) -> Principal | None:
        """The :data:`~adaptive_gateway.pipeline.auth.KeyResolver` for virtual keys."""
        entry = self.lookup(digest)
        return entry.principal if entry is not None else None


def _ts(value: dt.datetime | None) -> float | None:
    return to_epoch(value) if value is not None else None


def _limits(row: VirtualKey | Tenant, default_period: str) -> LimitSpec:
    budget = None
    if row.budget_usd is not None:
        budget = Budget(row.budget_usd, row.budget_period or default_period, row.budget_hard)
    return LimitSpec(row.rpm, row.tpm, row.max_concurrency, budget)


def _entry(
    row: VirtualKey, tenants: dict[str, TenantEntry], roles: dict[str, str | None], period: str
) -> KeyEntry:
    role = row.role or (roles.get(row.user_id) if row.user_id else None)
    principal = Principal(
        id=row.id,
        kind="virtual",
        key_prefix=row.prefix,
        tenant=row.tenant_id,
        allowed_models=frozenset(row.allowed_models) if row.allowed_models is not None else None,
        roles=frozenset({role}) if role else frozenset(),
        trust_level=row.trust_level,
    )
    networks = tuple(ipaddress.ip_network(n, strict=False) for n in row.ip_allow) if row.ip_allow else None
    limits = _limits(row, period)
    tenant = tenants.get(row.tenant_id) if row.tenant_id else None
    scopes = [make_scope("key", row.id, row.name, limits)] if not limits.empty else []
    if tenant is not None and not tenant.limits.empty:
        scopes.append(make_scope("tenant", tenant.id, tenant.name, tenant.limits))
    return KeyEntry(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        principal=principal,
        limits=limits,
        tenant=tenant,
        role=role,
        trust_level=row.trust_level,
        max_tokens=row.max_tokens,
        max_cost_nano=round(row.max_cost_usd * NANO) if row.max_cost_usd is not None else None,
        networks=networks,
        expires_at=_ts(row.expires_at),
        revoked=row.revoked_at is not None,
        scopes=tuple(scopes),
    )


async def keys_version(conn: AsyncConnection | AsyncSession) -> int:
    value = (await conn.execute(select(Meta.value).where(Meta.name == KEYS_VERSION))).scalar()
    return int(value or 0)


async def load_table(session: AsyncSession, default_period: str = "month") -> KeyTable:
    """Build a fresh table from the store (one read of keys, tenants and user roles)."""
    version = await keys_version(session)
    tenants = {
        t.id: TenantEntry(t.id, t.name, _limits(t, default_period))
        for t in (await session.scalars(select(Tenant))).all()
    }
    roles = {u.id: u.role for u in (await session.execute(select(User.id, User.role))).all()}
    table = KeyTable(version=version, tenants=tenants)
    for row in (await session.scalars(select(VirtualKey))).all():
        entry = _entry(row, tenants, roles, default_period)
        table.by_id[entry.id] = entry
        table.by_hash[row.key_hash] = (entry, entry.expires_at)
        if row.prev_key_hash and row.prev_expires_at is not None:
            grace = _ts(row.prev_expires_at)
            if entry.expires_at is not None and grace is not None:
                grace = min(grace, entry.expires_at)
            table.by_hash[row.prev_key_hash] = (entry, grace)
    return table

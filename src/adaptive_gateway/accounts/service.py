"""Key, tenant and user administration against the store, shared by the admin API and the CLI.

Every change writes an audit row and bumps ``keys_version`` in the same transaction, which is what
tells every replica to reload its key table. Role rules: ``admin`` may do anything;
``tenant-admin`` manages keys and users of its own tenant (never granting ``admin``); ``viewer``
reads (its own tenant's rows when it has one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adaptive_gateway.accounts.keys import display_prefix, hash_key, new_id, new_key
from adaptive_gateway.accounts.schemas import (
    KeyCreate,
    KeyCreated,
    KeyOut,
    KeyUpdate,
)
from adaptive_gateway.accounts.table import KEYS_VERSION
from adaptive_gateway.errors import GatewayError, InvalidRequest, NotFound, PermissionDenied
from adaptive_gateway.store.models import AuditLog, Meta, Tenant, User, VirtualKey, utcnow


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs an admin action: ``label`` goes to the audit log."""

    label: str
    role: str
    tenant_id: str | None = None

    @property
    def scope(self) -> str | None:
        """The tenant this actor is confined to (None: all)."""
        return None if self.role == "admin" else self.tenant_id

    def require_write(self) -> None:
        if self.role not in ("admin", "tenant-admin"):
            raise PermissionDenied(f"role '{self.role}' may not change anything")

    def require_admin(self) -> None:
        if self.role != "admin":
            raise PermissionDenied("only an admin may do this")

    def check_tenant(self, tenant_id: str | None, what: str = "this") -> None:
        if self.scope is not None and tenant_id != self.scope:
            raise PermissionDenied(f"{what} belongs to another tenant")


SYSTEM = Actor("cli", "admin")


class Conflict(GatewayError):
    status = 409
    type = "conflict_error"
    code = "conflict"


def unprocessable(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, status=422)


async def bump_version(session: AsyncSession) -> None:
    await session.execute(update(Meta).where(Meta.name == KEYS_VERSION).values(value=Meta.value + 1))


def audit(
    session: AsyncSession, actor: Actor, action: str, kind: str, target: str | None, **detail: Any
) -> None:
    session.add(AuditLog(actor=actor.label, action=action, target_type=kind, target_id=target, detail=detail))


async def commit_change(
    session: AsyncSession, actor: Actor, action: str, kind: str, target: str, **detail: Any
) -> None:
    audit(session, actor, action, kind, target, **detail)
    await bump_version(session)
    await session.commit()


def _key_fields(row: VirtualKey) -> dict[str, Any]:
    data = {c: getattr(row, c) for c in KeyOut.model_fields if c != "metadata"}
    data["metadata"] = row.meta
    return data


def key_out(row: VirtualKey) -> KeyOut:
    return KeyOut(**_key_fields(row))


def key_created(row: VirtualKey, plain: str) -> KeyCreated:
    return KeyCreated(**_key_fields(row), key=plain)


async def check_refs(session: AsyncSession, actor: Actor, tenant_id: str | None, user_id: str | None) -> None:
    if tenant_id is not None and await session.get(Tenant, tenant_id) is None:
        raise unprocessable(f"tenant '{tenant_id}' does not exist", "tenant_id")
    if user_id is not None:
        user = await session.get(User, user_id)
        if user is None:
            raise unprocessable(f"user '{user_id}' does not exist", "user_id")
        actor.check_tenant(user.tenant_id, f"user '{user_id}'")


def _check_role(actor: Actor, role: str | None) -> None:
    if role == "admin" and actor.role != "admin":
        raise PermissionDenied("only an admin may grant the admin role", param="role")


async def create_key(session: AsyncSession, actor: Actor, spec: KeyCreate) -> KeyCreated:
    """Create a key; the plain key is in the result and nowhere else."""
    actor.require_write()
    tenant_id = spec.tenant_id if spec.tenant_id is not None else actor.scope
    actor.check_tenant(tenant_id, "the key's tenant")
    _check_role(actor, spec.role)
    await check_refs(session, actor, tenant_id, spec.user_id)
    plain = new_key()
    fields = spec.model_dump(exclude={"metadata", "tenant_id"})
    row = VirtualKey(
        id=new_id("key"),
        key_hash=hash_key(plain),
        prefix=display_prefix(plain),
        tenant_id=tenant_id,
        meta=spec.metadata,
        created_by=actor.label,
        **fields,
    )
    session.add(row)
    await session.flush()
    await commit_change(session, actor, "key.create", "key", row.id, name=row.name, tenant_id=tenant_id)
    return key_created(row, plain)


async def list_keys(session: AsyncSession, actor: Actor, tenant_id: str | None = None) -> list[KeyOut]:
    query = select(VirtualKey).order_by(VirtualKey.created_at, VirtualKey.id)
    scope = actor.scope or tenant_id
    if scope is not None:
        query = query.where(VirtualKey.tenant_id == scope)
    return [key_out(row) for row in (await session.scalars(query)).all()]


async def get_key(session: AsyncSession, actor: Actor, key_id: str) -> VirtualKey:
    row = await session.get(VirtualKey, key_id)
    if row is None:
        raise NotFound(f"key '{key_id}' not found")
    actor.check_tenant(row.tenant_id, f"key '{key_id}'")
    return row


async def update_key(session: AsyncSession, actor: Actor, key_id: str, patch: KeyUpdate) -> KeyOut:
    actor.require_write()
    row = await get_key(session, actor, key_id)
    changes = patch.model_dump(exclude_unset=True)
    if "tenant_id" in changes:
        actor.check_tenant(changes["tenant_id"], "the key's new tenant")
    _check_role(actor, changes.get("role"))
    await check_refs(session, actor, changes.get("tenant_id"), changes.get("user_id"))
    if "metadata" in changes:
        row.meta = changes.pop("metadata")
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    await commit_change(session, actor, "key.update", "key", row.id, fields=sorted(patch.model_fields_set))
    return key_out(row)


async def revoke_key(session: AsyncSession, actor: Actor, key_id: str) -> KeyOut:
    """Revoke a key (and its rotated-out predecessor); every replica refuses it within a second."""
    actor.require_write()
    row = await get_key(session, actor, key_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.updated_at = row.revoked_at
        await commit_change(session, actor, "key.revoke", "key", row.id)
    return key_out(row)


async def rotate_key(session: AsyncSession, actor: Actor, key_id: str, grace_seconds: int) -> KeyCreated:
    """Issue a new key for the same entry (limits, budget and usage carry over); the old one keeps
    working for ``grace_seconds``."""
    actor.require_write()
    row = await get_key(session, actor, key_id)
    if row.revoked_at is not None:
        raise Conflict(f"key '{key_id}' is revoked; create a new one")
    plain = new_key()
    now = utcnow()
    row.prev_key_hash = row.key_hash if grace_seconds > 0 else None
    row.prev_expires_at = now + dt.timedelta(seconds=grace_seconds) if grace_seconds > 0 else None
    row.key_hash = hash_key(plain)
    row.prefix = display_prefix(plain)
    row.updated_at = now
    await commit_change(session, actor, "key.rotate", "key", row.id, grace_seconds=grace_seconds)
    return key_created(row, plain)

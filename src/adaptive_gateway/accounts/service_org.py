"""Tenant and user administration (see :mod:`adaptive_gateway.accounts.service` for the rules)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adaptive_gateway.accounts.keys import new_id
from adaptive_gateway.accounts.schemas import (
    TenantCreate,
    TenantOut,
    TenantUpdate,
    UserCreate,
    UserOut,
    UserUpdate,
)
from adaptive_gateway.accounts.service import Actor, Conflict, check_refs, commit_change
from adaptive_gateway.errors import NotFound, PermissionDenied
from adaptive_gateway.store.models import Tenant, User, utcnow


def tenant_out(row: Tenant) -> TenantOut:
    data = {c: getattr(row, c) for c in TenantOut.model_fields if c != "metadata"}
    return TenantOut(**data, metadata=row.meta)


def user_out(row: User) -> UserOut:
    data = {c: getattr(row, c) for c in UserOut.model_fields if c != "metadata"}
    return UserOut(**data, metadata=row.meta)


async def _commit_unique(
    session: AsyncSession, actor: Actor, action: str, kind: str, target: str, what: str
) -> None:
    try:
        await commit_change(session, actor, action, kind, target)
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"{what} already exists") from None


async def create_tenant(session: AsyncSession, actor: Actor, spec: TenantCreate) -> TenantOut:
    actor.require_admin()
    row = Tenant(id=new_id("ten"), meta=spec.metadata, **spec.model_dump(exclude={"metadata"}))
    session.add(row)
    await _commit_unique(session, actor, "tenant.create", "tenant", row.id, f"a tenant named {spec.name!r}")
    return tenant_out(row)


async def list_tenants(session: AsyncSession, actor: Actor) -> list[TenantOut]:
    query = select(Tenant).order_by(Tenant.name)
    if actor.scope is not None:
        query = query.where(Tenant.id == actor.scope)
    return [tenant_out(row) for row in (await session.scalars(query)).all()]


async def get_tenant(session: AsyncSession, actor: Actor, tenant_id: str) -> Tenant:
    row = await session.get(Tenant, tenant_id)
    if row is None:
        raise NotFound(f"tenant '{tenant_id}' not found")
    actor.check_tenant(row.id, f"tenant '{tenant_id}'")
    return row


async def update_tenant(
    session: AsyncSession, actor: Actor, tenant_id: str, patch: TenantUpdate
) -> TenantOut:
    actor.require_admin()
    row = await get_tenant(session, actor, tenant_id)
    changes = patch.model_dump(exclude_unset=True)
    if "metadata" in changes:
        row.meta = changes.pop("metadata")
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    await _commit_unique(session, actor, "tenant.update", "tenant", row.id, f"a tenant named {patch.name!r}")
    return tenant_out(row)


async def delete_tenant(session: AsyncSession, actor: Actor, tenant_id: str) -> None:
    """Delete a tenant; its keys and users stay, without a tenant."""
    actor.require_admin()
    row = await get_tenant(session, actor, tenant_id)
    await session.delete(row)
    await commit_change(session, actor, "tenant.delete", "tenant", tenant_id)


async def create_user(session: AsyncSession, actor: Actor, spec: UserCreate) -> UserOut:
    actor.require_write()
    tenant_id = spec.tenant_id if spec.tenant_id is not None else actor.scope
    actor.check_tenant(tenant_id, "the user's tenant")
    if spec.role == "admin" and actor.role != "admin":
        raise PermissionDenied("only an admin may grant the admin role", param="role")
    await check_refs(session, actor, tenant_id, None)
    row = User(id=new_id("usr"), meta=spec.metadata, **spec.model_dump(exclude={"metadata", "tenant_id"}))
    row.tenant_id = tenant_id
    session.add(row)
    await _commit_unique(session, actor, "user.create", "user", row.id, f"a user with email {spec.email!r}")
    return user_out(row)


async def list_users(session: AsyncSession, actor: Actor) -> list[UserOut]:
    query = select(User).order_by(User.email)
    if actor.scope is not None:
        query = query.where(User.tenant_id == actor.scope)
    return [user_out(row) for row in (await session.scalars(query)).all()]


async def get_user(session: AsyncSession, actor: Actor, user_id: str) -> User:
    row = await session.get(User, user_id)
    if row is None:
        raise NotFound(f"user '{user_id}' not found")
    actor.check_tenant(row.tenant_id, f"user '{user_id}'")
    return row


async def update_user(session: AsyncSession, actor: Actor, user_id: str, patch: UserUpdate) -> UserOut:
    actor.require_write()
    row = await get_user(session, actor, user_id)
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("role") == "admin" and actor.role != "admin":
        raise PermissionDenied("only an admin may grant the admin role", param="role")
    if "tenant_id" in changes:
        actor.check_tenant(changes["tenant_id"], "the user's new tenant")
        await check_refs(session, actor, changes["tenant_id"], None)
    if "metadata" in changes:
        row.meta = changes.pop("metadata")
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    await _commit_unique(session, actor, "user.update", "user", row.id, f"a user with email {patch.email!r}")
    return user_out(row)


async def delete_user(session: AsyncSession, actor: Actor, user_id: str) -> None:
    actor.require_write()
    row = await get_user(session, actor, user_id)
    await session.delete(row)
    await commit_change(session, actor, "user.delete", "user", user_id)

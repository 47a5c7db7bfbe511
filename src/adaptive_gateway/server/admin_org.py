"""Admin API: tenants and users."""

from __future__ import annotations

from fastapi import APIRouter, Response

from adaptive_gateway.accounts import service_org as org
from adaptive_gateway.accounts.schemas import (
    TenantCreate,
    TenantOut,
    TenantUpdate,
    UserCreate,
    UserOut,
    UserUpdate,
)
from adaptive_gateway.server.admin import AccountsDep, ActorDep, SessionDep

router = APIRouter()


@router.post("/tenants", status_code=201, response_model=TenantOut, tags=["tenants"])
async def create_tenant(
    spec: TenantCreate, actor: ActorDep, session: SessionDep, acc: AccountsDep
) -> TenantOut:
    out = await org.create_tenant(session, actor, spec)
    await acc.reload_table()
    return out


@router.get("/tenants", response_model=list[TenantOut], tags=["tenants"])
async def list_tenants(actor: ActorDep, session: SessionDep) -> list[TenantOut]:
    return await org.list_tenants(session, actor)


@router.get("/tenants/{tenant_id}", response_model=TenantOut, tags=["tenants"])
async def get_tenant(tenant_id: str, actor: ActorDep, session: SessionDep) -> TenantOut:
    return org.tenant_out(await org.get_tenant(session, actor, tenant_id))


@router.patch("/tenants/{tenant_id}", response_model=TenantOut, tags=["tenants"])
async def update_tenant(
    tenant_id: str, patch: TenantUpdate, actor: ActorDep, session: SessionDep, acc: AccountsDep
) -> TenantOut:
    out = await org.update_tenant(session, actor, tenant_id, patch)
    await acc.reload_table()
    return out


@router.delete("/tenants/{tenant_id}", status_code=204, tags=["tenants"])
async def delete_tenant(tenant_id: str, actor: ActorDep, session: SessionDep, acc: AccountsDep) -> Response:
    await org.delete_tenant(session, actor, tenant_id)
    await acc.reload_table()
    return Response(status_code=204)


@router.post("/users", status_code=201, response_model=UserOut, tags=["users"])
async def create_user(spec: UserCreate, actor: ActorDep, session: SessionDep, acc: AccountsDep) -> UserOut:
    out = await org.create_user(session, actor, spec)
    await acc.reload_table()
    return out


@router.get("/users", response_model=list[UserOut], tags=["users"])
async def list_users(actor: ActorDep, session: SessionDep) -> list[UserOut]:
    return await org.list_users(session, actor)


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"])
async def get_user(user_id: str, actor: ActorDep, session: SessionDep) -> UserOut:
    return org.user_out(await org.get_user(session, actor, user_id))


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"])
async def update_user(
    user_id: str, patch: UserUpdate, actor: ActorDep, session: SessionDep, acc: AccountsDep
) -> UserOut:
    out = await org.update_user(session, actor, user_id, patch)
    await acc.reload_table()
    return out


@router.delete("/users/{user_id}", status_code=204, tags=["users"])
async def delete_user(user_id: str, actor: ActorDep, session: SessionDep, acc: AccountsDep) -> Response:
    await org.delete_user(session, actor, user_id)
    await acc.reload_table()
    return Response(status_code=204)

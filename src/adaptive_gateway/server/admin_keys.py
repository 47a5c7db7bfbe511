"""Admin API: virtual keys."""

from __future__ import annotations

from fastapi import APIRouter

from adaptive_gateway.accounts import service
from adaptive_gateway.accounts.schemas import KeyCreate, KeyCreated, KeyOut, KeyUpdate, RotateRequest
from adaptive_gateway.server.admin import AccountsDep, ActorDep, SessionDep

router = APIRouter(tags=["keys"])


@router.post("/keys", status_code=201, response_model=KeyCreated)
async def create_key(spec: KeyCreate, actor: ActorDep, session: SessionDep, acc: AccountsDep) -> KeyCreated:
    """Create a key. The response holds the key itself: it is shown once and stored only as a hash."""
    created = await service.create_key(session, actor, spec)
    await acc.reload_table()
    return created


@router.get("/keys", response_model=list[KeyOut])
async def list_keys(actor: ActorDep, session: SessionDep, tenant_id: str | None = None) -> list[KeyOut]:
    return await service.list_keys(session, actor, tenant_id)


@router.get("/keys/{key_id}", response_model=KeyOut)
async def get_key(key_id: str, actor: ActorDep, session: SessionDep) -> KeyOut:
    return service.key_out(await service.get_key(session, actor, key_id))


@router.patch("/keys/{key_id}", response_model=KeyOut)
async def update_key(
    key_id: str, patch: KeyUpdate, actor: ActorDep, session: SessionDep, acc: AccountsDep
) -> KeyOut:
    """Change limits, budget, allowed models, expiry or metadata; only the fields sent change."""
    out = await service.update_key(session, actor, key_id, patch)
    await acc.reload_table()
    return out


@router.post("/keys/{key_id}/revoke", response_model=KeyOut)
async def revoke_key(key_id: str, actor: ActorDep, session: SessionDep, acc: AccountsDep) -> KeyOut:
    """Revoke a key: refused by every replica within a second."""
    out = await service.revoke_key(session, actor, key_id)
    await acc.reload_table()
    return out


@router.post("/keys/{key_id}/rotate", response_model=KeyCreated)
async def rotate_key(
    key_id: str, actor: ActorDep, session: SessionDep, acc: AccountsDep, body: RotateRequest | None = None
) -> KeyCreated:
    """Issue a new key for the same entry; the old key keeps working for ``grace_seconds``."""
    grace = (body or RotateRequest()).grace_seconds
    out = await service.rotate_key(session, actor, key_id, grace)
    await acc.reload_table()
    return out

"""The admin API: a FastAPI app mounted at ``/api`` (typed; OpenAPI at ``/openapi.json``, docs at
``/docs``). Every ``/api`` route needs a key: the master key acts as ``admin``; a virtual key acts
with its role (``admin``, ``tenant-admin``, ``viewer``); other keys get 403. Authentication reads the
in-memory key table, like the proxy routes."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from adaptive_gateway import __version__
from adaptive_gateway.accounts.runtime import Accounts
from adaptive_gateway.accounts.service import Actor
from adaptive_gateway.config import hash_key
from adaptive_gateway.errors import AuthenticationFailed, GatewayError, PermissionDenied
from adaptive_gateway.pipeline.auth import presented_key

if TYPE_CHECKING:
    pass

DESCRIPTION = """Keys, tenants, users, budgets, usage, spend, audit log and webhook deliveries.

Authenticate with `Authorization: Bearer <key>`: the master key (role admin) or a virtual key with a
role. Money is in USD; times are UTC."""


def accounts_of(request: Request) -> Accounts:
    acc: Accounts = request.app.state.accounts
    return acc


def current_actor(request: Request) -> Actor:
    """The caller, from the in-memory key table (no database round trip)."""
    acc = accounts_of(request)
    key = presented_key(request.headers)
    if not key:
        raise AuthenticationFailed("missing API key: send 'Authorization: Bearer <key>'")
    digest = hash_key(key)
    master = acc.gateway.config.master_key_hash
    if master is not None and hmac.compare_digest(digest, master):
        return Actor("master", "admin")
    entry = acc.table.lookup(digest)
    if entry is None:
        raise AuthenticationFailed("invalid API key")
    if entry.role is None:
        raise PermissionDenied("this key has no admin API role (admin, tenant-admin or viewer)")
    tenant = entry.tenant.id if entry.tenant is not None else entry.principal.tenant
    return Actor(f"key:{entry.id}", entry.role, tenant)


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    store = accounts_of(request).store
    if store is None:
        raise GatewayError("the store is not started", status=503)
    async with store.session() as session:
        yield session


ActorDep = Annotated[Actor, Depends(current_actor)]
SessionDep = Annotated[AsyncSession, Depends(db_session)]
AccountsDep = Annotated[Accounts, Depends(accounts_of)]


def _gateway_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    message = "; ".join(f"{_field(e['loc'])}: {e['msg']}" for e in errors)
    body = {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": _field(errors[0]["loc"]) if errors else None,
            "code": "validation_error",
        },
        "detail": errors,
    }
    return JSONResponse(body, status_code=422)


def build_admin_api(accounts: Accounts) -> FastAPI:
    from adaptive_gateway.server import admin_keys, admin_org, admin_reports

    api = FastAPI(
        title="Adaptive LLM Gateway admin API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    api.state.accounts = accounts
    api.add_exception_handler(GatewayError, _gateway_error)
    api.add_exception_handler(RequestValidationError, _invalid)
    for module in (admin_keys, admin_org, admin_reports):
        api.include_router(module.router, prefix="/api")
    return api

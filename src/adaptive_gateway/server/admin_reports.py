"""Admin API: usage, spend, budgets, audit log, webhook deliveries and prices (read-only)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from adaptive_gateway.accounts.table import LimitSpec
from adaptive_gateway.accounts.webhooks import EVENTS
from adaptive_gateway.errors import InvalidRequest
from adaptive_gateway.server.admin import AccountsDep, ActorDep, SessionDep
from adaptive_gateway.store.models import NANO, AuditLog, WebhookDelivery, utcnow
from adaptive_gateway.store.usage import spend_since, usage_report

router = APIRouter()
GroupBy = Literal["key", "tenant", "model", "provider", "day"]


class UsageReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    group_by: str
    from_: dt.datetime = Field(alias="from")
    to: dt.datetime
    rows: list[dict[str, Any]]


class BudgetOut(BaseModel):
    scope: str
    id: str
    name: str
    budget_usd: float
    period: str
    hard: bool
    spent_usd: float
    reserved_usd: float
    resets_at: str


def _range(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    def naive(t: dt.datetime) -> dt.datetime:
        return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo is not None else t

    end = naive(end) if end is not None else utcnow()
    start = naive(start) if start is not None else end - dt.timedelta(days=30)
    if start >= end:
        raise InvalidRequest("'from' must be before 'to'", param="from", status=422)
    return start, end


@router.get("/usage", response_model=UsageReport, tags=["usage"])
async def usage(
    actor: ActorDep,
    session: SessionDep,
    group_by: GroupBy = "model",
    from_: dt.datetime | None = Query(None, alias="from", description="UTC; default: 30 days before 'to'"),
    to: dt.datetime | None = Query(None, description="UTC, exclusive; default: now"),
    key_id: str | None = None,
    tenant_id: str | None = None,
) -> UsageReport:
    """Requests, tokens and cost per key, tenant, model, provider or day."""
    start, end = _range(from_, to)
    filters = {k: v for k, v in (("key", key_id), ("tenant", actor.scope or tenant_id)) if v}
    conn = await session.connection()
    rows = await usage_report(conn, group_by, start, end, filters)
    return UsageReport(group_by=group_by, from_=start, to=end, rows=rows)


@router.get("/spend", tags=["usage"])
async def spend(
    actor: ActorDep,
    session: SessionDep,
    acc: AccountsDep,
    scope: Literal["key", "tenant"] = "key",
    since: dt.date | None = None,
) -> dict[str, Any]:
    """USD spent per key or tenant since ``since`` (default: the first of this month)."""
    first = since or utcnow().date().replace(day=1)
    conn = await session.connection()
    totals = await spend_since(conn, scope, first)
    if actor.scope is not None:
        mine = {e.id for e in acc.table.by_id.values() if e.principal.tenant == actor.scope}
        mine.add(actor.scope)
        totals = {k: v for k, v in totals.items() if k in mine}
    return {"scope": scope, "since": first.isoformat(), "spend_usd": {k: v / NANO for k, v in totals.items()}}


@router.get("/budgets", response_model=list[BudgetOut], tags=["usage"])
async def budgets(actor: ActorDep, acc: AccountsDep) -> list[BudgetOut]:
    """Every key and tenant budget with live spend and in-flight reservations for the current period."""
    table = acc.table
    items: list[tuple[str, str, str, LimitSpec, str | None]] = [
        ("key", e.id, e.name, e.limits, e.tenant.id if e.tenant else e.principal.tenant)
        for e in table.by_id.values()
    ]
    items += [("tenant", t.id, t.name, t.limits, t.id) for t in table.tenants.values()]
    now = time.time()
    rows: list[tuple[str, str, str, Any, Any, str]] = []
    for scope, sid, name, limits, tenant in items:
        b = limits.budget
        if b is None or (actor.scope is not None and tenant != actor.scope):
            continue
        period = acc.periods.current(b.period, now)
        rows.append((scope, sid, name, b, period, f"b:{scope}:{sid}:{period.label}"))
    states = await acc.counters.budget_state([r[5] for r in rows])
    return [
        BudgetOut(
            scope=scope,
            id=sid,
            name=name,
            budget_usd=b.usd,
            period=b.period,
            hard=b.hard,
            spent_usd=spent / NANO,
            reserved_usd=reserved / NANO,
            resets_at=period.reset_text(),
        )
        for (scope, sid, name, b, period, _), (spent, reserved) in zip(rows, states, strict=True)
    ]


@router.get("/audit", tags=["audit"])
async def audit(
    actor: ActorDep,
    session: SessionDep,
    limit: int = Query(100, ge=1, le=1000),
    action: str | None = None,
    target_id: str | None = None,
) -> list[dict[str, Any]]:
    """Admin actions, newest first (admins and tenant-less viewers only)."""
    if actor.scope is not None:
        raise InvalidRequest("the audit log is not scoped to tenants", status=403)
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if action:
        query = query.where(AuditLog.action == action)
    if target_id:
        query = query.where(AuditLog.target_id == target_id)
    rows = (await session.scalars(query)).all()
    return [
        {
            "id": r.id,
            "at": r.at,
            "actor": r.actor,
            "action": r.action,
            "target_type": r.target_type,
            "target_id": r.target_id,
            "detail": r.detail,
        }
        for r in rows
    ]


@router.get("/webhooks", tags=["webhooks"])
async def webhooks(actor: ActorDep, acc: AccountsDep) -> dict[str, Any]:
    """Configured endpoints (secrets never shown) and the events they receive."""
    return {
        "events": list(EVENTS),
        "endpoints": [
            {"url": ep.url, "events": ep.events or list(EVENTS), "max_attempts": ep.max_attempts}
            for ep in acc.webhooks.endpoints
        ],
    }


@router.post("/webhooks/test", status_code=202, tags=["webhooks"])
async def webhook_test(actor: ActorDep, acc: AccountsDep) -> dict[str, str]:
    """Send a ``webhook.test`` event to every endpoint subscribed to it."""
    actor.require_admin()
    acc.webhooks.emit("webhook.test", {"by": actor.label}, subject="test")
    return {"status": "queued"}


@router.get("/webhooks/deliveries", tags=["webhooks"])
async def deliveries(
    actor: ActorDep,
    session: SessionDep,
    event: str | None = None,
    status: Literal["delivered", "failed"] | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """The delivery log, newest first."""
    actor.require_admin()
    query = select(WebhookDelivery).order_by(WebhookDelivery.created_at.desc()).limit(limit)
    if event:
        query = query.where(WebhookDelivery.event == event)
    if status:
        query = query.where(WebhookDelivery.status == status)
    cols = (
        "id",
        "event",
        "subject",
        "url",
        "status",
        "attempts",
        "response_status",
        "error",
        "created_at",
        "finished_at",
        "payload",
    )
    return [{c: getattr(r, c) for c in cols} for r in (await session.scalars(query)).all()]


@router.get("/prices", tags=["prices"])
async def prices(actor: ActorDep, acc: AccountsDep) -> dict[str, Any]:
    """Effective USD prices per million tokens of every deployment, and the catalog."""
    cfg = acc.gateway.config
    deployments = [
        {
            "deployment": d.id,
            "provider": d.provider.name,
            "locality": d.provider.locality,
            "input": d.input_price,
            "output": d.output_price,
            "cached_input": d.cached_input_price,
        }
        for m in cfg.models.values()
        for d in m.deployments
    ]
    catalog = {
        k: {"input": v[0], "output": v[1], "cached_input": v[2]} for k, v in sorted(acc.catalog.items())
    }
    return {"deployments": deployments, "catalog": catalog}

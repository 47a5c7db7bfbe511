"""Everything the accounts extension keeps per app: store, write-behind queue, counters, the key
table and its refresher, webhooks. Hung off the app (no module state); started and stopped by the
app's lifespan hooks."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from sqlalchemy import exists, select, text

from adaptive_gateway.accounts.events import EventGate
from adaptive_gateway.accounts.periods import PeriodClock
from adaptive_gateway.accounts.prices import Price, apply_catalog, load_catalog
from adaptive_gateway.accounts.settle import Settler
from adaptive_gateway.accounts.table import KeyTable, keys_version, load_table
from adaptive_gateway.accounts.webhooks import Webhooks
from adaptive_gateway.config import CompiledConfig
from adaptive_gateway.errors import RateLimited
from adaptive_gateway.pipeline.context import Principal
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.state import AdmitPlan, MemoryCounters, WindowOp, make_counters
from adaptive_gateway.store import schema_version
from adaptive_gateway.store.db import Store
from adaptive_gateway.store.models import WebhookDelivery, utcnow
from adaptive_gateway.store.queue import WriteBehind
from adaptive_gateway.store.usage import prune_usage, spend_since

log = logging.getLogger("adaptive_gateway.accounts")
NO_MIGRATE_ENV = "ADAPTIVE_GATEWAY_NO_MIGRATE"
HOUSEKEEPING_SECONDS = 3600.0


class Accounts:
    def __init__(self, gateway: Gateway) -> None:
        src = gateway.config.source
        self.gateway = gateway
        self.store_url = src.store.url
        self.store: Store | None = None
        self.queue: WriteBehind | None = None
        self.counters = make_counters(
            src.state.redis_url, src.state.redis_prefix, on_recover=self.seed_budgets
        )
        self.settler = Settler(self.counters, self)
        self.table = KeyTable()
        self.periods = PeriodClock()
        self.webhooks = Webhooks(list(src.webhooks), self._record_delivery)
        self.events = EventGate(self.webhooks)
        self.catalog: dict[str, Price] = load_catalog()
        self.ip_guard = MemoryCounters()  # failed authentications per client IP (this replica)
        self.refresh_error: str | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ---- request path ------------------------------------------------------------------------------

    def resolve(self, digest: str) -> Principal | None:
        """The virtual-key resolver installed into the authenticator."""
        return self.table.resolve(digest)

    def note_auth_failure(self, client_ip: str) -> None:
        """Count a failed authentication; past the per-IP limit, refuse with 429."""
        limit = self.gateway.config.source.limits.unauthenticated_rpm_per_ip
        res = self.ip_guard.admit_now(AdmitPlan("", 0, [WindowOp(f"ip:{client_ip}", limit, 1)]))
        if not res.ok:
            retry = max(int(res.retry_after) + 1, 1)
            raise RateLimited(
                f"too many failed authentications from {client_ip or 'this address'}; retry in {retry}s",
                headers={"Retry-After": str(retry)},
            )

    def priced(self, config: CompiledConfig) -> CompiledConfig:
        """``config`` with catalog prices on unpriced hosted deployments."""
        return apply_catalog(config, self.catalog)

    def _record_delivery(self, row: dict[str, Any]) -> None:
        if self.queue is not None:
            self.queue.add_delivery(row)

    # ---- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        src = self.gateway.config.source
        self.store = Store(self.store_url)
        if not await schema_version.at_head(self.store):
            if os.environ.get(NO_MIGRATE_ENV) == "1":
                raise RuntimeError(
                    f"the database at {self.store.where} is not at schema {schema_version.head_revision()} "
                    "and --no-migrate was given; run `adaptive-llm-gateway start` once without it"
                )
            from adaptive_gateway.store import migrate  # Alembic: imported only when there is work

            await migrate.upgrade(self.store)
        self.queue = WriteBehind(self.store, src.store.flush_interval_seconds, src.store.batch_size)
        self.queue.start()
        await self.reload_table()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._every(src.state.key_refresh_seconds, self.refresh)),
            loop.create_task(self._every(HOUSEKEEPING_SECONDS, self.housekeeping, first=1.0)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        await self.settler.drain()
        await self.webhooks.stop()
        if self.queue is not None:
            await self.queue.stop()
        await self.counters.close()
        if self.store is not None:
            await self.store.close()

    async def _every(
        self, seconds: float, job: Callable[[], Awaitable[None]], first: float | None = None
    ) -> None:
        await asyncio.sleep(seconds if first is None else first)
        while True:
            try:
                await job()
            except Exception as exc:  # keep the loop alive; the next run retries
                log.warning("%s failed: %s", getattr(job, "__name__", "job"), exc)
            await asyncio.sleep(seconds)

    # ---- key table ---------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Reload the key table when ``keys_version`` moved (polled every ``key_refresh_seconds``)."""
        assert self.store is not None
        try:
            async with self.store.engine.connect() as conn:
                version = await keys_version(conn)
        except Exception as exc:
            self.refresh_error = f"{type(exc).__name__}: {exc}"[:300]
            raise
        self.refresh_error = None
        if version != self.table.version:
            await self.reload_table()

    async def reload_table(self) -> None:
        assert self.store is not None
        async with self.store.session() as session:
            table = await load_table(session, self.gateway.config.source.budgets.period)
        self.table = table
        await self.seed_budgets()

    async def seed_budgets(self) -> None:
        """Give the counters each budget's spend so far this period (where they have none yet)."""
        if self.store is None:
            return
        now = time.time()
        wanted: dict[tuple[str, dt.date], list[tuple[str, str, int, float]]] = {}
        budgets = [("key", e.id, e.limits.budget) for e in self.table.by_id.values()]
        budgets += [("tenant", t.id, t.limits.budget) for t in self.table.tenants.values()]
        for scope, sid, budget in budgets:
            if budget is None:
                continue
            period = self.periods.current(budget.period, now)
            key = f"b:{scope}:{sid}:{period.label}"
            wanted.setdefault((scope, period.start.date()), []).append((sid, key, 0, period.end_ts))
        if not wanted:
            return
        seeds: dict[str, tuple[int, float]] = {}
        async with self.store.engine.connect() as conn:
            for (scope, first_day), items in wanted.items():
                spent = await spend_since(conn, scope, first_day, [sid for sid, *_ in items])
                for sid, key, _, end_ts in items:
                    seeds[key] = (spent.get(sid, 0), end_ts)
        await self.counters.seed_spend(seeds)

    # ---- housekeeping ------------------------------------------------------------------------------

    async def housekeeping(self) -> None:
        """Hourly: prune raw usage past retention, warn about expiring keys, forget idle IP counters."""
        assert self.store is not None
        src = self.gateway.config.source
        cutoff = utcnow() - dt.timedelta(days=src.store.usage_retention_days)
        async with self.store.engine.begin() as conn:
            pruned = await prune_usage(conn, cutoff)
        if pruned:
            log.info("pruned %d raw usage row(s) older than %s", pruned, cutoff.date())
        await self._key_expiring()
        self.ip_guard = MemoryCounters()

    async def _key_expiring(self) -> None:
        if not self.webhooks.wants("key.expiring") or self.store is None:
            return
        days = min(ep.key_expiring_days for ep in self.webhooks.endpoints)
        horizon = time.time() + days * 86400
        for entry in list(self.table.by_id.values()):
            if entry.revoked or entry.expires_at is None or not time.time() < entry.expires_at <= horizon:
                continue
            async with self.store.engine.connect() as conn:
                done = (
                    await conn.execute(
                        select(
                            exists().where(
                                WebhookDelivery.event == "key.expiring", WebhookDelivery.subject == entry.id
                            )
                        )
                    )
                ).scalar()
            if not done:
                when = dt.datetime.fromtimestamp(entry.expires_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                data = {"key_id": entry.id, "name": entry.name, "prefix": entry.prefix, "expires_at": when}
                self.webhooks.emit("key.expiring", data, subject=entry.id)

    # ---- readiness ---------------------------------------------------------------------------------

    async def store_ready(self) -> tuple[str, bool, str]:
        if self.store is None or self.queue is None:
            return "store", False, "not started"
        q = self.queue
        backlog = f"write-behind: {q.pending} pending, {q.written} written, {q.dropped} dropped"
        try:
            async with asyncio.timeout(2.0), self.store.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            return "store", False, f"{self.store.dialect} unreachable: {type(exc).__name__}: {exc}; {backlog}"
        problems = [p for p in (q.last_error, self.refresh_error) if p]
        detail = f"{self.store.dialect} at {self.store.where}; {backlog}; keys v{self.table.version}"
        return "store", True, detail + (f"; last error: {problems[0]}" if problems else "")

    async def state_ready(self) -> tuple[str, bool, str]:
        try:
            ok, detail = await self.counters.ping()
        except Exception as exc:
            return "state", False, f"{type(exc).__name__}: {exc}"
        return "state", ok, detail

"""The database (reachable, schema at the latest migration) and Redis (reachable), each only when it is
configured or in use; a build without the store reports ``skip`` with the reason."""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

from .model import DoctorContext, Finding, Repair


def _store_url(ctx: DoctorContext) -> tuple[str | None, str]:
    """(the URL to open, or None when the default SQLite file does not exist yet; a label)."""
    assert ctx.config is not None
    url = ctx.config.store.url
    if url:
        return url, "store"
    path = ctx.state / "gateway.db"
    return (f"sqlite:///{path}" if path.exists() else None), str(path)


def _migrate_repair(migrate: Any, db: Any, url: str) -> Repair:
    def apply() -> str:
        async def run() -> None:
            store = db.Store(url)
            try:
                await migrate.upgrade(store)
            finally:
                await store.close()

        asyncio.run(run())
        return f"migrated the store to {migrate.head_revision()}"

    return Repair("apply the database migrations", apply)


async def _revision(db: Any, migrate: Any, url: str, timeout: float) -> str | None:
    store = db.Store(url)
    try:
        async with asyncio.timeout(timeout):
            revision: str | None = await migrate.current_revision(store)
            return revision
    finally:
        await store.close()


async def check_store(ctx: DoctorContext) -> list[Finding]:
    if ctx.config is None:
        return [Finding("store", "skip", "config not valid")]
    url, label = _store_url(ctx)
    if url is None:
        return [
            Finding("store", "skip", f"not created yet: the gateway creates {label} when it first starts")
        ]
    try:  # imported only now: alembic is slow to import
        db = importlib.import_module("adaptive_gateway.store.db")
        # in a thread: alembic takes seconds to import, and the other groups' requests are timed
        migrate = await asyncio.to_thread(importlib.import_module, "adaptive_gateway.store.migrate")
    except ImportError as exc:
        return [Finding("store", "skip", f"not available in this build ({exc.name})")]
    try:
        current = await _revision(db, migrate, url, ctx.timeout)
    except Exception as exc:  # any driver error means the same to the user: it cannot be reached
        return [
            Finding(
                "store",
                "fail",
                f"the database at {label} cannot be reached: {type(exc).__name__}: {exc}"[:300],
                "usage, keys and budgets cannot be recorded; the gateway fails to start",
                f"check store.url in {ctx.config_path} and that the database server runs",
            )
        ]
    head = migrate.head_revision()
    if current != head:
        return [
            Finding(
                "store",
                "warn",
                f"the database at {label} is at schema {current or 'empty'}, not {head}",
                "the gateway applies the migrations when it starts (unless --no-migrate)",
                "adaptive-llm-gateway start --background",
                _migrate_repair(migrate, db, url),
            )
        ]
    return [Finding("store", "ok", f"{label}: reachable, schema at {head}")]


async def check_redis(ctx: DoctorContext) -> list[Finding]:
    if ctx.config is None:
        return [Finding("redis", "skip", "config not valid")]
    url = ctx.config.state.redis_url
    if not url:
        return [
            Finding(
                "redis",
                "skip",
                "not configured: rate-limit and budget counters are kept in this process",
                "set state.redis_url to share them across replicas",
            )
        ]
    try:
        resp = importlib.import_module("adaptive_gateway.state.resp")
    except ImportError as exc:
        return [Finding("redis", "skip", f"not available in this build ({exc.name})")]
    client = resp.RespClient(url, timeout=ctx.timeout)
    started = time.perf_counter()
    try:
        reply = await client.execute("PING")
    except Exception as exc:  # connection refused, auth failure, timeout: all mean unreachable here
        return [
            Finding(
                "redis",
                "fail",
                f"Redis at {client.where} cannot be reached: {exc}",
                "replicas fall back to local counters: limits and budgets are not shared",
                f"start Redis, or fix state.redis_url in {ctx.config_path}",
            )
        ]
    finally:
        await client.close()
    ms = (time.perf_counter() - started) * 1000
    return [Finding("redis", "ok", f"Redis at {client.where} answers ({reply!r}, {ms:.0f} ms)")]

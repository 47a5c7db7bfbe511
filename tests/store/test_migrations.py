"""Migrations on SQLite and PostgreSQL: upgrade, downgrade, re-upgrade, the models match the
migrations, and replicas migrating at the same time do not trip over each other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from adaptive_gateway.store import migrate
from adaptive_gateway.store.db import Store, normalize_url
from adaptive_gateway.store.models import Base

TABLES = {
    "tenants",
    "users",
    "virtual_keys",
    "usage",
    "usage_daily",
    "spend",
    "webhook_deliveries",
    "audit_log",
    "gateway_meta",
    "recordings",
}


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gw.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    s = Store(url)
    try:
        yield s
    finally:
        await s.close()


async def tables(store: Store) -> set[str]:
    async with store.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names())) - {"alembic_version"}


async def test_upgrade_downgrade_upgrade(store: Store) -> None:
    assert await migrate.current_revision(store) is None
    await migrate.upgrade(store)
    assert await migrate.current_revision(store) == migrate.head_revision()
    assert await tables(store) == TABLES
    async with store.engine.connect() as conn:
        version = (
            await conn.execute(text("SELECT value FROM gateway_meta WHERE name='keys_version'"))
        ).scalar()
    assert version == 0
    await migrate.upgrade(store)  # a second start: nothing to do
    await migrate.downgrade(store, "base")
    assert await tables(store) == set()
    await migrate.upgrade(store)
    assert await tables(store) == TABLES


async def test_models_match_the_migrations(store: Store) -> None:
    await migrate.upgrade(store)

    def diff(conn: object) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})  # type: ignore[arg-type]
        return list(compare_metadata(ctx, Base.metadata))

    async with store.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_replicas_starting_together_migrate_once(store: Store) -> None:
    others = [Store(store.url) for _ in range(3)]
    try:
        await asyncio.gather(*[migrate.upgrade(s) for s in [store, *others]])
    finally:
        for s in others:
            await s.close()
    assert await migrate.current_revision(store) == migrate.head_revision()


def test_store_urls() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_url("sqlite:////tmp/x.db") == "sqlite+aiosqlite:////tmp/x.db"
    assert (
        normalize_url(None, {"ADAPTIVE_GATEWAY_HOME": "/srv/gw"}) == "sqlite+aiosqlite:////srv/gw/gateway.db"
    )
    with pytest.raises(ValueError, match=r"store\.url"):
        normalize_url("not a url")


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    s = Store(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        async with s.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    finally:
        await s.close()


def test_start_no_migrate_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.accounts.helpers import config
    from tests.support.gateway import free_port
    from tests.support.process import CLI

    cfg = tmp_path / "config.yaml"
    cfg.write_text(config("http://127.0.0.1:9"))
    env = {**os.environ, "ADAPTIVE_GATEWAY_HOME": str(tmp_path / "home")}
    args = [CLI, "start", "--config", str(cfg), "--port", str(free_port()), "--no-migrate"]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "--no-migrate was given" in result.stdout + result.stderr

"""Run the Alembic migrations shipped in this package, to ``head`` (at start, from the CLI, in tests).

Replicas starting together are serialised: a PostgreSQL advisory lock, or a lock file next to the
SQLite database; whoever comes second finds the schema current and does nothing.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# alembic logs one INFO line per plugin when its command module is imported
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import Connection, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from adaptive_gateway.store.db import Store  # noqa: E402

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_LOCK = 0x61677701  # arbitrary, constant: "agw" + 1


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _file_lock(store: Store) -> Iterator[None]:
    database = make_url(store.url).database
    if store.dialect != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(database + ".migrate.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


async def current_revision(store: Store) -> str | None:
    async with store.engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(store: Store, revision: str = "head") -> None:
    """Bring the schema to ``revision``; a no-op when it is already there."""
    await _run(store, lambda conn: command.upgrade(alembic_config(conn), revision))


async def downgrade(store: Store, revision: str = "base") -> None:
    await _run(store, lambda conn: command.downgrade(alembic_config(conn), revision))


async def _run(store: Store, step: object) -> None:
    lock = _file_lock(store)
    await asyncio.to_thread(lock.__enter__)
    try:
        async with store.engine.connect() as conn:
            if store.dialect == "postgresql":
                await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK})
                await conn.commit()
            try:
                await conn.run_sync(step)  # type: ignore[arg-type]
                await conn.commit()
            finally:
                if store.dialect == "postgresql":
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK})
                    await conn.commit()
    finally:
        lock.__exit__(None, None, None)

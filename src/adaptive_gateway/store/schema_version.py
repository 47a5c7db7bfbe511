"""Which schema revision the database is at, and which one this package ships, without importing
Alembic (about 12 MB and 50 modules a worker would otherwise carry for its whole life).

A gateway checks this at every start; only when the database is behind does it import
:mod:`adaptive_gateway.store.migrate` and run Alembic. ``adaptive-llm-gateway start`` runs that
migration in a short-lived child process before it serves (:mod:`adaptive_gateway.store.premigrate`),
so serving processes stay lean.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from adaptive_gateway.store.db import Store

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
_REVISION = re.compile(r"^revision\s*(?::\s*str\s*)?=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]+)?=\s*(None|['\"]([^'\"]+)['\"])", re.M)


@cache
def head_revision() -> str:
    """The newest revision in ``migrations/versions``: the one no other revision builds on."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found is None:
            continue
        revisions.add(found.group(1))
        down = _DOWN.search(source)
        if down is not None and down.group(2):
            parents.add(down.group(2))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the migrations in {VERSIONS} have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


async def current_revision(store: Store) -> str | None:
    """The revision recorded in the database's ``alembic_version`` table (None when it has none)."""
    async with store.engine.connect() as conn:
        try:
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
        except DBAPIError:  # no table yet: a new database
            await conn.rollback()
            return None
    return None if row is None else str(row[0])


async def at_head(store: Store) -> bool:
    return await current_revision(store) == head_revision()


async def upgrade(url: str | None) -> None:
    """Migrate the database at ``url`` to head if it is behind (Alembic imported only then)."""
    store = Store(url)
    try:
        if not await at_head(store):
            from adaptive_gateway.store import migrate

            await migrate.upgrade(store)
    finally:
        await store.close()

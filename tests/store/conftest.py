from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adaptive_gateway.store import migrate
from adaptive_gateway.store.db import Store
from tests.store.backends import pg_url, redis_prefix

__all__ = ["migrated", "pg_url", "redis_prefix"]


@pytest.fixture(params=["sqlite", "postgresql"])
async def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated store, once per database kind."""
    url = (
        f"sqlite:///{tmp_path / 'gw.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    )
    store = Store(url)
    await migrate.upgrade(store)
    try:
        yield store
    finally:
        await store.close()

"""The Alembic-free schema check agrees with Alembic, and `start` leaves serving processes without it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from adaptive_gateway.store import migrate, schema_version
from adaptive_gateway.store.db import Store


async def test_head_matches_alembic() -> None:
    assert schema_version.head_revision() == migrate.head_revision()


async def test_current_revision_before_and_after_upgrade(tmp_path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    try:
        assert await schema_version.current_revision(store) is None
        assert not await schema_version.at_head(store)
        await migrate.upgrade(store)
        assert await schema_version.current_revision(store) == await migrate.current_revision(store)
        assert await schema_version.at_head(store)
    finally:
        await store.close()


def test_upgrade_in_child_migrates_without_importing_alembic_here(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"
    code = (
        "import sys, asyncio\n"
        "from adaptive_gateway.store.premigrate import upgrade_in_child\n"
        f"upgrade_in_child({url!r})\n"
        "assert 'alembic' not in sys.modules and 'sqlalchemy' not in sys.modules, 'imported by the parent'\n"
        "from adaptive_gateway.store import schema_version\n"
        "from adaptive_gateway.store.db import Store\n"
        f"async def check():\n    s = Store({url!r})\n    ok = await schema_version.at_head(s)\n"
        "    await s.close()\n    return ok\n"
        "print(asyncio.run(check()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_upgrade_in_child_reports_failure(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    url = f"sqlite+aiosqlite:///{tmp_path / 'a-file' / 'g.db'}"
    code = (
        "from adaptive_gateway.store.premigrate import upgrade_in_child\n"
        f"try:\n    upgrade_in_child({url!r})\nexcept RuntimeError as e:\n    print('failed:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "failed: the database migration failed" in out.stdout, (out.stdout, out.stderr)

"""Migrate the database in a forked child before serving, so neither the supervisor nor the workers
import SQLAlchemy's migration machinery (Alembic) or, in the supervisor, SQLAlchemy at all.

Only light modules are imported here; the child imports :mod:`adaptive_gateway.store.schema_version`.
"""

from __future__ import annotations

import os
import sys


def upgrade_in_child(url: str | None) -> None:
    """Bring the database at ``url`` to head in a forked child. Raises RuntimeError when that fails."""
    pid = os.fork()
    if pid == 0:  # the child: migrate if behind, report by exit status
        code = 1
        try:
            import asyncio

            from adaptive_gateway.store.schema_version import upgrade

            asyncio.run(upgrade(url))
            code = 0
        except BaseException as exc:  # anything: the parent reports it
            print(f"database migration failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("the database migration failed (see the message above)")

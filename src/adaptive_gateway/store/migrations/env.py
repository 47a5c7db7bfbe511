"""Alembic environment: always run on a connection handed in by ``store.migrate`` (never from an ini
file), so migrations work the same from `start`, the CLI and tests, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context

from adaptive_gateway.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through adaptive_gateway.store.migrate")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

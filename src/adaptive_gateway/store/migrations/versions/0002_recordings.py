"""Recordings: prompts and answers kept when ``observability.recording`` is on (docs/observability.md).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:12:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("receipt_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("key_prefix", sa.String(length=32), nullable=True),
        sa.Column("tenant_id", sa.String(length=40), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=True),
        sa.Column("deployment", sa.String(length=300), nullable=True),
        sa.Column("route", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("trust_level", sa.String(length=16), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_nano", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("redacted", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
    )
    op.create_index("ix_recordings_created_at", "recordings", ["created_at"], unique=False)
    op.create_index("ix_recordings_request_id", "recordings", ["request_id"], unique=False)
    op.create_index("ix_recordings_key_created", "recordings", ["key_id", "created_at"], unique=False)
    op.create_index("ix_recordings_tenant_created", "recordings", ["tenant_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_recordings_tenant_created", table_name="recordings")
    op.drop_index("ix_recordings_key_created", table_name="recordings")
    op.drop_index("ix_recordings_request_id", table_name="recordings")
    op.drop_index("ix_recordings_created_at", table_name="recordings")
    op.drop_table("recordings")

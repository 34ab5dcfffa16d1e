"""The monitor's tables: `monitor_state` (rule windows, file offsets, sender leases as JSON) and `alerts` (the
alert outbox, one row per sink).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=nullable, server_default=None if nullable else sa.func.now()
    )


def upgrade() -> None:
    op.create_table(
        "monitor_state",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("state", JSON, nullable=False),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_monitor_state"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("sink", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        _timestamp("created_at"),
        _timestamp("sent_at", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('raised', 'resolved')", name="ck_alerts_kind"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'dead')", name="ck_alerts_status"),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("idempotency_key", "sink", name="uq_alerts_idempotency_key_sink"),
    )
    op.create_index("ix_alerts_sink_status", "alerts", ["sink", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_sink_status", "alerts")
    op.drop_table("alerts")
    op.drop_table("monitor_state")

"""Delivery scheduled per device: pending rows with their own lease and next attempt; shared gateway tokens;
one report per (publish, device, event).

- `beams_deliveries` now holds a row per targeted device from the moment its publish is expanded: outcome
  "pending" until a final result, with `next_at` (the next attempt, durable across restarts) and a lease
  (`lease_owner`, `lease_until`) held by the worker sending it. Any worker can claim any pending row, so one
  publish is shared by many workers, and a device that must be retried never holds up the others.
- `beams_publishes.expanded`: every target device has its row (the cursor is now the expansion cursor).
  Publishes left running by an older version resume expanding from their cursor; rows already recorded
  keep their results.
- `beams_gateway_tokens`: provider tokens (APNs JWTs, FCM access tokens) shared by every process.
- `beams_reports`: at most one report per (publish, device, event); duplicates already stored are dropped.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("outcome = 'pending'")


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode: on SQLite a batch rebuild of beams_publishes drops the table, and with
    # foreign keys on that cascades to every recorded delivery.
    op.add_column("beams_deliveries", sa.Column("next_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("beams_deliveries", sa.Column("lease_owner", sa.String(), nullable=True))
    op.add_column("beams_deliveries", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_beams_deliveries_pending",
        "beams_deliveries",
        ["publish_id", "next_at"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.add_column("beams_publishes", sa.Column("expanded", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Running publishes of the old queue: expanded again from their cursor by whoever claims them.
    op.execute("UPDATE beams_publishes SET lease_owner = NULL, lease_until = NULL WHERE status = 'running'")
    op.create_table(
        "beams_gateway_tokens",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_beams_gateway_tokens"),
    )
    op.execute(
        "DELETE FROM beams_reports WHERE id NOT IN "
        "(SELECT MIN(id) FROM beams_reports GROUP BY publish_id, device_id, event)"
    )
    op.create_index(
        "uq_beams_reports_publish_device_event",
        "beams_reports",
        ["publish_id", "device_id", "event"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_beams_reports_publish_device_event", table_name="beams_reports")
    op.drop_table("beams_gateway_tokens")
    op.execute("DELETE FROM beams_deliveries WHERE outcome = 'pending'")
    with op.batch_alter_table("beams_publishes") as batch:
        batch.drop_column("expanded")
    op.drop_index("ix_beams_deliveries_pending", table_name="beams_deliveries")
    with op.batch_alter_table("beams_deliveries") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
        batch.drop_column("next_at")

"""The Beams delivery queue: leases and progress on publishes, one result row per device reached.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out here rather than imported from schema.py (see r0002_beams.py).
SORT_KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")
_PUBLISH_COLUMNS = ("lease_owner", "lease_until", "cursor", "started_at", "finished_at")


def upgrade() -> None:
    # Nullable columns only: SQLite adds them in place, existing publishes read as never claimed.
    with op.batch_alter_table("beams_publishes") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cursor", SORT_KEY, nullable=True))
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "beams_deliveries",
        sa.Column("publish_id", sa.String(), nullable=False),
        sa.Column("device_id", SORT_KEY, nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["publish_id"],
            ["beams_publishes.id"],
            name="fk_beams_deliveries_publish_id_beams_publishes",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("publish_id", "device_id", name="pk_beams_deliveries"),
    )


def downgrade() -> None:
    op.drop_table("beams_deliveries")
    with op.batch_alter_table("beams_publishes") as batch:
        for name in reversed(_PUBLISH_COLUMNS):
            batch.drop_column(name)

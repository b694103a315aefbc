"""Create the Beams tables: instances, devices and their interests, publishes, delivery reports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out here rather than imported from schema.py: a revision must keep building what it built
# when it was written, whatever schema.py says later.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SORT_KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "beams_instances",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("secret_key", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("vapid_private_key", sa.String(), nullable=False),
        sa.Column("vapid_public_key", sa.String(), nullable=False),
        sa.Column("providers", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_beams_instances"),
    )
    op.create_table(
        "beams_devices",
        sa.Column("id", SORT_KEY, nullable=False),
        sa.Column("instance_id", sa.String(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("bundle_identifier", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["beams_instances.id"],
            name="fk_beams_devices_instance_id_beams_instances",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_beams_devices"),
    )
    op.create_index("ix_beams_devices_instance_user_platform", "beams_devices", ["instance_id", "user_id", "platform"])
    op.create_index("ix_beams_devices_instance_token", "beams_devices", ["instance_id", "token"])
    op.create_table(
        "beams_device_interests",
        sa.Column("device_id", SORT_KEY, nullable=False),
        sa.Column("instance_id", sa.String(), nullable=False),
        sa.Column("interest", SORT_KEY, nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["beams_devices.id"],
            name="fk_beams_device_interests_device_id_beams_devices",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", "interest", name="pk_beams_device_interests"),
    )
    op.create_index(
        "ix_beams_device_interests_instance_interest_device",
        "beams_device_interests",
        ["instance_id", "interest", "device_id"],
    )
    op.create_table(
        "beams_publishes",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("instance_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("targets", JSON, nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(), server_default="queued", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_beams_publishes"),
    )
    op.create_index("ix_beams_publishes_status_created_at", "beams_publishes", ["status", "created_at"])
    op.create_table(
        "beams_reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.String(), nullable=False),
        sa.Column("publish_id", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("device_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("timestamp_secs", sa.BigInteger(), nullable=False),
        sa.Column("extra", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_beams_reports"),
    )
    op.create_index("ix_beams_reports_publish_id", "beams_reports", ["publish_id"])


def downgrade() -> None:
    # Indexes go with their tables; children before parents for the foreign keys.
    op.drop_table("beams_reports")
    op.drop_table("beams_publishes")
    op.drop_table("beams_device_interests")
    op.drop_table("beams_devices")
    op.drop_table("beams_instances")

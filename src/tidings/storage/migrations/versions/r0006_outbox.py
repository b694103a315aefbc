"""The push outbox: notifications of instances in outbox mode, kept instead of sent (storage/outbox.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "beams_outbox",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.String(), nullable=False),
        sa.Column("publish_id", sa.String(), nullable=False),
        sa.Column("device_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("request", JsonType, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_beams_outbox"),
    )
    op.create_index("ix_beams_outbox_instance_id_id", "beams_outbox", ["instance_id", "id"])
    op.create_index("ix_beams_outbox_instance_id_user_id_id", "beams_outbox", ["instance_id", "user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_beams_outbox_instance_id_user_id_id", table_name="beams_outbox")
    op.drop_index("ix_beams_outbox_instance_id_id", table_name="beams_outbox")
    op.drop_table("beams_outbox")

"""User-first delivery: an app linked to a Beams instance, the offline mailbox, routing decisions.

- `apps.beams_instance`: the Beams instance whose users are the app's users (unique: one app per instance).
- `apps.user_mailbox`: seconds an event to a user with no signed-in connection is kept (0: off).
- `user_mailbox`: the kept events, replayed in id order to the user's next `#server-to-user-` subscription.
- `beams_routes`: per user of a publish carrying `channels`, the route decided once (socket or push), and for a
  socket route the app it goes to and the lease of the worker delivering it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in schema.py: byte order on PostgreSQL, so keyset pages follow Python's sort order.
SortKey = sa.String().with_variant(sa.String(collation="C"), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMN (see 0004): no batch rebuild of a table others point at.
    op.add_column("apps", sa.Column("beams_instance", sa.String(), nullable=True))
    op.add_column("apps", sa.Column("user_mailbox", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.create_index("uq_apps_beams_instance", "apps", ["beams_instance"], unique=True)
    op.create_table(
        "user_mailbox",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("app_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("data", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_user_mailbox"),
    )
    op.create_index("ix_user_mailbox_app_id_user_id_id", "user_mailbox", ["app_id", "user_id", "id"])
    op.create_index("ix_user_mailbox_expires_at", "user_mailbox", ["expires_at"])
    op.create_table(
        "beams_routes",
        sa.Column("publish_id", sa.String(), nullable=False),
        sa.Column("user_id", SortKey, nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("app_id", sa.String(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["publish_id"], ["beams_publishes.id"], name="fk_beams_routes_publish_id_beams_publishes",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("publish_id", "user_id", name="pk_beams_routes"),
    )


def downgrade() -> None:
    op.drop_table("beams_routes")
    op.drop_index("ix_user_mailbox_expires_at", table_name="user_mailbox")
    op.drop_index("ix_user_mailbox_app_id_user_id_id", table_name="user_mailbox")
    op.drop_table("user_mailbox")
    op.drop_index("uq_apps_beams_instance", table_name="apps")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("user_mailbox")
        batch.drop_column("beams_instance")

"""The tables, as SQLAlchemy Core metadata: what the queries are written against.

The migrations in `migrations/versions` own the real DDL; this module must describe the schema at
head. New tables (Beams instances, devices, publishes, webhooks) go here and in a new revision.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, MetaData, String, Table
from sqlalchemy.dialects.postgresql import JSONB

# Named constraints let later SQLite migrations (batch mode rebuilds the table) find them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# JSON text on SQLite, binary JSONB on PostgreSQL (indexable, compact); same Python values both ways.
JsonType = JSON().with_variant(JSONB(), "postgresql")

apps = Table(
    "apps",
    metadata,
    Column("id", String, primary_key=True),
    Column("key", String, nullable=False, unique=True),
    Column("secret", String, nullable=False),
    Column("name", String, nullable=False, default=""),
    Column("enabled", Boolean, nullable=False),
    Column("enable_client_events", Boolean, nullable=False),
    Column("enable_user_authentication", Boolean, nullable=False),
    Column("enable_subscription_count", Boolean, nullable=False),
    Column("limits", JsonType, nullable=False),
    Column("webhooks", JsonType, nullable=False),
    Column("webhook_batching", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

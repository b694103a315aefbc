"""The tables, as SQLAlchemy Core metadata: what the queries are written against.

The migrations in `migrations/versions` own the real DDL; this module must describe the schema at
head. New tables (Beams instances, devices, publishes, webhooks) go here and in a new revision.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    false,
    text,
)
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

_PENDING = text("outcome = 'pending'")

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
    # User-first delivery: the linked Beams instance (one app per instance) and the offline mailbox's seconds.
    Column("beams_instance", String, nullable=True),
    Column("user_mailbox", Integer, nullable=False, server_default=text("0")),
    Index("uq_apps_beams_instance", "beams_instance", unique=True),
)

# Ids and names that queries page through by range (keyset cursors, sorted interest lists). On PostgreSQL
# they use the "C" collation whatever the cluster's locale: byte order, as on SQLite, so pages follow
# Python's sort order on both backends, and index comparisons are memcmp instead of locale-aware.
SortKey = String().with_variant(String(collation="C"), "postgresql")

# INTEGER PRIMARY KEY is SQLite's auto-incrementing rowid; BIGINT would not be.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# The offline mailbox: events to a user who had no `#server-to-user-` subscription anywhere, kept until the
# user's next one (replayed in id order) or until expires_at. Bounded per user by the app's limit.
user_mailbox = Table(
    "user_mailbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("app_id", String, nullable=False),
    Column("user_id", String, nullable=False),
    Column("event", String, nullable=False),
    Column("data", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_user_mailbox_app_id_user_id_id", "app_id", "user_id", "id"),
    Index("ix_user_mailbox_expires_at", "expires_at"),
)

beams_instances = Table(
    "beams_instances",
    metadata,
    Column("id", String, primary_key=True),
    Column("secret_key", String, nullable=False),
    Column("name", String, nullable=False),
    Column("vapid_private_key", String, nullable=False),
    Column("vapid_public_key", String, nullable=False),
    Column("providers", JsonType, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

beams_devices = Table(
    "beams_devices",
    metadata,
    Column("id", SortKey, primary_key=True),
    Column("instance_id", String, ForeignKey("beams_instances.id", ondelete="CASCADE"), nullable=False),
    Column("platform", String, nullable=False),
    Column("token", String, nullable=False),
    Column("user_id", String, nullable=True),
    Column("metadata", JsonType, nullable=False),
    Column("bundle_identifier", String, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Publishing to users, the per-user device limit, deleting a user.
    Index("ix_beams_devices_instance_user_platform", "instance_id", "user_id", "platform"),
    # Dead-token cleanup after a gateway says a token is gone.
    Index("ix_beams_devices_instance_token", "instance_id", "token"),
)

beams_device_interests = Table(
    "beams_device_interests",
    metadata,
    Column("device_id", SortKey, ForeignKey("beams_devices.id", ondelete="CASCADE"), primary_key=True),
    Column("instance_id", String, nullable=False),  # copied from the device, for the index below
    Column("interest", SortKey, primary_key=True),
    # Publishing to an interest walks its devices in id order, one page at a time.
    Index("ix_beams_device_interests_instance_interest_device", "instance_id", "interest", "device_id"),
)

beams_publishes = Table(
    "beams_publishes",
    metadata,
    Column("id", String, primary_key=True),
    Column("instance_id", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("targets", JsonType, nullable=False),
    Column("payload", JsonType, nullable=False),
    Column("status", String, nullable=False, server_default="queued"),  # queued | running | done
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The delivery queue (storage/delivery.py): the worker holding the job until lease_until, the last
    # device id whose result is recorded, the first claim (retry deadlines count from it), the end.
    Column("lease_owner", String, nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("cursor", SortKey, nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # Every target device has its row in beams_deliveries (the cursor above is the expansion cursor).
    Column("expanded", Boolean, nullable=False, server_default=false()),
    # Workers pick the oldest unfinished publishes.
    Index("ix_beams_publishes_status_created_at", "status", "created_at"),
)

# One row per device a publish targets, written when the publish is expanded: "pending" (with its next attempt
# and the lease of the worker sending it) until the final result. The publish status counts the final ones.
# No instance column: a publish id belongs to one instance.
beams_deliveries = Table(
    "beams_deliveries",
    metadata,
    Column("publish_id", String, ForeignKey("beams_publishes.id", ondelete="CASCADE"), primary_key=True),
    Column("device_id", SortKey, primary_key=True),
    Column("platform", String, nullable=False),
    Column("outcome", String, nullable=False),  # pending | sent | failed | removed | skipped
    Column("status_code", Integer, nullable=True),  # the gateway's HTTP status, when there was one
    Column("reason", String, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_at", DateTime(timezone=True), nullable=True),  # pending: not to be sent before this
    Column("lease_owner", String, nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    # Claiming due rows of one publish; small, as only pending rows are in it.
    Index("ix_beams_deliveries_pending", "publish_id", "next_at", sqlite_where=_PENDING, postgresql_where=_PENDING),
)

# User-first delivery: one row per user of a routed publish (its body carries `channels`), written when the worker
# reaches the user and decides, once: "socket" (the user was signed in on the linked app) or "push". A socket
# route is delivered_at once the event went out on `#server-to-user-{id}` of app_id, by the worker holding its
# lease (a dead decider's lease runs out and another worker sends it again, over the socket); a push route's
# devices have rows in beams_deliveries, written in the same transaction as the route. Decided before acting,
# so a retry repeats the decision and never takes the other route (storage/routes.py).
beams_routes = Table(
    "beams_routes",
    metadata,
    Column("publish_id", String, ForeignKey("beams_publishes.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", SortKey, primary_key=True),
    Column("route", String, nullable=False),  # socket | push
    Column("app_id", String, nullable=True),  # socket routes: the linked app checked when deciding
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String, nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
)

# Gateway provider tokens shared by every process (APNs refuses a key whose token changes too often).
beams_gateway_tokens = Table(
    "beams_gateway_tokens",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", String, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

beams_reports = Table(
    "beams_reports",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("instance_id", String, nullable=False),
    Column("publish_id", String, nullable=False),
    Column("event", String, nullable=False),
    Column("device_id", String, nullable=False),
    Column("user_id", String, nullable=True),
    Column("timestamp_secs", BigInteger, nullable=False),
    Column("extra", JsonType, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_beams_reports_publish_id", "publish_id"),
    # One report per device and event type for a publish: a device cannot fill the table with repeats.
    Index("uq_beams_reports_publish_device_event", "publish_id", "device_id", "event", unique=True),
)

# The push outbox (instances in outbox mode): each notification as it would have been sent, kept instead of sent,
# newest read first. Bounded per instance and expiring (storage/outbox.py prunes at every write).
beams_outbox = Table(
    "beams_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("instance_id", String, nullable=False),
    Column("publish_id", String, nullable=False),
    Column("device_id", String, nullable=False),
    Column("user_id", String, nullable=True),
    Column("platform", String, nullable=False),
    Column("request", JsonType, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_beams_outbox_instance_id_id", "instance_id", "id"),
    Index("ix_beams_outbox_instance_id_user_id_id", "instance_id", "user_id", "id"),
)

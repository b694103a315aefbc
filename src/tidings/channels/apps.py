"""An app as the protocol core sees it: credentials, switches and limits. Pure data."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AppLimits(BaseModel):
    """Per-app limits: Pusher's documented values where it documents one (docs/protocol/channels.md §5), every
    one with its refusal in docs/apps.md."""

    model_config = ConfigDict(extra="forbid")

    max_connections: int | None = Field(default=None, ge=0, description="None means unlimited")
    max_event_data_bytes: int = Field(default=10_240, ge=1)
    max_channels_per_event: int = Field(default=100, ge=1)
    max_batch_size: int = Field(default=10, ge=1)
    max_channel_name_length: int = Field(default=200, ge=1)
    max_event_name_length: int = Field(default=200, ge=1)
    max_presence_members: int = Field(default=100, ge=1)
    max_presence_user_info_bytes: int = Field(default=1_024, ge=1)
    client_events_per_second: int = Field(default=10, ge=0, description="0 means unlimited")
    # Pusher documents no such limit, but every subscription costs the hub index entries: bounded by default like
    # the limits above (max_connections alone is unlimited, a quota only the operator can size), far above what
    # pusher-js apps subscribe to. None lifts it.
    max_channels_per_connection: int | None = Field(default=1000, ge=1, description="None means unlimited")
    # The offline mailbox (App.user_mailbox): events kept per user, the oldest dropped first beyond it.
    user_mailbox_events: int = Field(default=100, ge=1, le=1000)
    # Users at scale (docs/users.md). Watchlists: Pusher's 100 by default; the live-watchlist PUT can carry far more
    # than a sign-in frame (max_message_bytes bounds that one).
    max_watchlist_size: int = Field(default=100, ge=1, le=100_000)
    # A presence channel with more members than this runs counts-only: no roster, no member events, the count.
    presence_counts_only_above: int | None = Field(default=None, ge=0, description="None means never")
    # Per-user guard rails, off by default: they change what a client sees, so an app opts in.
    max_connections_per_user: int | None = Field(default=None, ge=1, description="None means unlimited")
    client_events_per_second_per_user: int | None = Field(default=None, ge=1, description="None means unlimited")
    max_session_seconds: int | None = Field(default=None, ge=1, description="None means no maximum")


WEBHOOK_EVENTS = frozenset(
    {
        "channel_occupied",
        "channel_vacated",
        "member_added",
        "member_removed",
        "client_event",
        "cache_miss",
        "subscription_count",
    }
)


class Webhook(BaseModel):
    """One webhook target of an app: where to POST, which events, optional channel filter and headers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://")
    event_types: tuple[str, ...] = Field(default=(), description="Empty means every event type")
    channel_prefix: str | None = None
    channel_suffix: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("event_types")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - WEBHOOK_EVENTS)
        if unknown:
            raise ValueError(f"unknown webhook event types {unknown}; known: {sorted(WEBHOOK_EVENTS)}")
        return value

    def wants(self, event_type: str, channel: str) -> bool:
        if self.event_types and event_type not in self.event_types:
            return False
        if self.channel_prefix and not channel.startswith(self.channel_prefix):
            return False
        return not (self.channel_suffix and not channel.endswith(self.channel_suffix))


# Generated ids are 7 digits and keys 20 hex characters (credentials.py), as Pusher's are; 255 leaves room for
# any hand-picked value. Storage answers "no such app" for a longer one without asking the database.
MAX_APP_ID_LENGTH = 255
MAX_APP_KEY_LENGTH = 255
MAX_INSTANCE_ID_LENGTH = 255
MAX_USER_MAILBOX_SECONDS = 7 * 86400  # a week: the mailbox is for a user between two sessions, not an archive


def is_storable_text(value: str) -> bool:
    """False for text no database column holds: NUL (PostgreSQL refuses it) or a lone surrogate (not UTF-8)."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


class App(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Bounded and storable so that an id or key that fails those checks names no app: lookups rely on it.
    id: str = Field(max_length=MAX_APP_ID_LENGTH)
    key: str = Field(max_length=MAX_APP_KEY_LENGTH)
    secret: str = Field(repr=False)
    name: str = ""
    enabled: bool = True
    enable_client_events: bool = False
    enable_user_authentication: bool = False
    enable_subscription_count: bool = False
    limits: AppLimits = Field(default_factory=AppLimits)
    webhooks: tuple[Webhook, ...] = ()
    webhook_batching: bool = False
    # User-first delivery (docs/user-first-delivery.md): the Beams instance whose users are this app's users,
    # and how long an event to a user who is not signed in is kept for their next sign-in (0: not kept).
    beams_instance: str | None = Field(default=None, max_length=MAX_INSTANCE_ID_LENGTH)
    user_mailbox: int = Field(default=0, ge=0, le=MAX_USER_MAILBOX_SECONDS)

    @field_validator("id", "key")
    @classmethod
    def _storable(cls, value: str) -> str:
        if not is_storable_text(value):
            raise ValueError("must be Unicode text without NUL characters")
        return value

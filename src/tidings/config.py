"""One settings schema for the whole server, read once at start.

Sources, highest priority first: CLI flags, environment (`TIDINGS_*`), an optional TOML file
(`--config` or `TIDINGS_CONFIG`), then the defaults below. Secrets are `SecretStr` so they never
print in reprs or logs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tidings.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDINGS_", extra="forbid")

    _config_file: ClassVar[Path | None] = None

    host: str = Field(default="0.0.0.0", description="Address to listen on")
    port: int = Field(default=6001, ge=0, le=65535, description="Port for WebSocket and HTTP (0 picks one)")
    data_dir: Path = Field(default=Path("data"), description="Where the embedded SQLite file lives")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite+aiosqlite:///<data_dir>/tidings.db"
    )
    public_host: str | None = Field(default=None, description="Host name printed in the client snippets")

    default_app_id: str | None = Field(default=None, description="Create or update this app at start")
    default_app_key: str | None = Field(default=None, description="Key of the default app")
    default_app_secret: SecretStr | None = Field(default=None, description="Secret of the default app")
    default_app_client_events: bool | None = Field(default=None, description="Client events on the default app")
    default_app_user_authentication: bool | None = Field(
        default=None, description="Require sign-in (or a private/presence subscription) on the default app"
    )
    default_app_subscription_count: bool | None = Field(
        default=None, description="Send pusher_internal:subscription_count on the default app"
    )
    default_app_beams_instance: str | None = Field(
        default=None,
        description="Link the default app to this Beams instance (user-first delivery); the embedded default "
        "links the app and instance it creates",
    )
    default_app_user_mailbox: int | None = Field(
        default=None, ge=0, le=7 * 86400,
        description="Seconds events to a user who is not signed in are kept on the default app (0: off)",
    )

    demo: bool = Field(
        default=False,
        description="Serve the browser demo at /demo, with a user-auth endpoint that signs in ANY user name "
        "(development only)",
    )

    console_token: SecretStr | None = Field(
        default=None,
        description="Token of the live console at /console and of `tidings tail` (off when unset, or set to an empty "
        "value; the embedded default generates one on first start, kept in <data_dir>/console-token)",
    )
    console_timeline_events: int = Field(
        default=200, ge=1, le=10_000, description="Events kept per user for the console's per-user timeline"
    )
    console_timeline_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024 * 1024,
        description="Bytes of timelines kept in memory on one node (least recently active users dropped first)",
    )
    console_timeline_ttl: float = Field(
        default=7 * 86400.0, gt=0,
        description="Seconds a user's timeline is kept in Redis after their last event (scale-out)",
    )

    default_instance_id: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description="Create or update this Beams instance (a UUID) at start",
    )
    default_instance_secret: SecretStr | None = Field(default=None, description="Secret key of that Beams instance")
    default_instance_outbox: bool | None = Field(
        default=None,
        description="Put the default Beams instance in outbox mode (true) or take it out (false) at start: its "
        "notifications are kept in the push outbox instead of sent (docs/outbox.md)",
    )
    tls_cert: Path | None = Field(default=None, description="PEM certificate chain: serve HTTPS/WSS")
    tls_key: Path | None = Field(default=None, description="PEM private key for tls_cert")
    beams_publish_rate: int = Field(
        default=100, ge=1, description="Beams publish requests per second per instance (429 beyond)"
    )

    apns_url: str = Field(default="https://api.push.apple.com", description="APNs production gateway base URL")
    apns_sandbox_url: str = Field(
        default="https://api.sandbox.push.apple.com", description="APNs sandbox (development) gateway base URL"
    )
    fcm_url: str = Field(default="https://fcm.googleapis.com", description="FCM HTTP v1 base URL")
    fcm_token_url: str = Field(
        default="https://oauth2.googleapis.com/token", description="OAuth2 token endpoint for FCM service accounts"
    )
    gateway_ca_file: Path | None = Field(
        default=None, description="Extra CA bundle (PEM) trusted for push gateways, e.g. a staging emulator's"
    )
    delivery_workers: int = Field(
        default=1, ge=0, description="Beams delivery workers run inside `tidings serve` (0: run `tidings worker`)"
    )
    delivery_concurrency: int = Field(default=200, ge=1, description="Gateway requests in flight per worker")
    delivery_request_timeout: float = Field(
        default=10.0, gt=0, description="Seconds one gateway request may take in all: connect, headers and body"
    )
    delivery_retry_deadline: float = Field(
        default=300.0, gt=0, description="Seconds a notification is retried on 429/5xx before it is failed"
    )
    delivery_lease: float = Field(
        default=30.0,
        ge=1,
        description="Seconds a delivery worker holds the devices it claimed between renewals; a dead worker's "
        "devices are claimed again this long after its last renewal",
    )
    push_stub: bool = Field(
        default=False,
        description="Development only: pretend every push notification is delivered, sending nothing to "
        "the gateways",
    )
    outbox_max_notifications: int = Field(
        default=1000, ge=1, description="Notifications the push outbox keeps per instance (the oldest go first)"
    )
    outbox_retention: float = Field(
        default=86400.0, gt=0, description="Seconds a notification stays in the push outbox"
    )
    push_allow_private_networks: bool = Field(
        default=False,
        description="Development and tests only: accept Web Push endpoints on plain http and on loopback, "
        "private or other non-public addresses (otherwise https and a public address are required, checked at "
        "registration and at every send)",
    )

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"

    activity_timeout: int = Field(default=120, ge=1, description="Seconds, sent to clients at connect")
    pong_timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for a pong before 4201")
    user_authentication_timeout: float = Field(
        default=30.0, gt=0, description="Seconds a connection has to sign in when an app requires it"
    )
    max_message_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest WebSocket message read from a client"
    )
    max_request_bytes: int = Field(
        default=1024 * 1024, ge=16 * 1024, description="Largest HTTP request body accepted (413 beyond)"
    )
    write_buffer_limit: int = Field(
        default=4 * 1024 * 1024, ge=64 * 1024, description="Bytes queued for a slow client before it is cut off"
    )
    cache_ttl: float = Field(default=1800.0, gt=0, description="Seconds a cache channel keeps its last event")
    app_cache_ttl: float = Field(default=5.0, ge=0, description="Seconds an app read from storage is reused")
    shutdown_grace: float = Field(
        default=3.0, ge=0, description="Seconds given to the last clients to close on shutdown, after the drain"
    )
    drain_seconds: float = Field(
        default=10.0, ge=0,
        description="On SIGTERM, connections are closed with 4200 spread over this many seconds (jittered), so "
        "clients reconnect to other nodes gradually; /ready answers 503 and new connections are refused "
        "meanwhile (0: all at once)",
    )

    reuse_port: bool = Field(
        default=False,
        description="Listen with SO_REUSEPORT (Linux): several `tidings serve` processes on one host share the "
        "port and the kernel spreads connections between them (with redis_url set)",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL (redis://host:6379/0): share Channels state between several `tidings serve` "
        "processes (scale-out); unset: one process, state in memory",
    )
    redis_prefix: str = Field(
        default="tidings", min_length=1, description="Prefix of every Redis key and of the pub/sub channel"
    )
    node_heartbeat_interval: float = Field(
        default=2.0, gt=0, description="Seconds between a node's heartbeats in Redis"
    )
    node_dead_after: float = Field(
        default=10.0,
        gt=0,
        description="Seconds without a heartbeat after which a node is dead: a survivor removes its presence "
        "members, users and subscription counts",
    )
    redis_timeout: float = Field(
        default=3.0, gt=0, description="Seconds a Redis command may take; beyond, the HTTP API answers 503"
    )
    bus_buffer_messages: int = Field(
        default=10_000, ge=1,
        description="Messages to other nodes kept, in order, while Redis does not take them; when full the HTTP "
        "API answers 503 and delivers nothing",
    )
    bus_buffer_bytes: int = Field(
        default=16 * 1024 * 1024, ge=64 * 1024, description="The same bound in bytes"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._config_file))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tidings.db').resolve()}"


def load_settings(overrides: dict[str, Any] | None = None, config_file: Path | None = None) -> Settings:
    """Build the settings from CLI overrides (None values are ignored), env and the optional file."""
    if config_file is None and os.environ.get("TIDINGS_CONFIG"):
        config_file = Path(os.environ["TIDINGS_CONFIG"])
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file not found: {config_file}")
    clean = {k: v for k, v in (overrides or {}).items() if v is not None}
    Settings._config_file = config_file
    try:
        return Settings(**clean)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    finally:
        Settings._config_file = None

"""An app as the protocol core sees it: credentials, switches and limits. Pure data."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AppLimits(BaseModel):
    """Per-app limits. Defaults are Pusher's documented ones (see reference/channels-protocol.md section 5)."""

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


class App(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    key: str
    secret: str = Field(repr=False)
    name: str = ""
    enabled: bool = True
    enable_client_events: bool = False
    enable_user_authentication: bool = False
    enable_subscription_count: bool = False
    limits: AppLimits = Field(default_factory=AppLimits)

"""Beams instances, devices and publishes as the rest of the code sees them. Pure data."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Platform(enum.StrEnum):
    WEB = "web"
    APNS = "apns"
    FCM = "fcm"


class Instance(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str  # a UUID, as Pusher's instance ids are
    secret_key: str = Field(repr=False)
    name: str = ""
    vapid_private_key: str = Field(repr=False, description="PEM (PKCS#8) of the instance's P-256 VAPID key")
    vapid_public_key: str = Field(description="base64url (no padding) of the uncompressed 65-byte public point")
    # Push gateway credentials and options, per platform (filled in by the delivery issue); never logged.
    providers: dict[str, Any] = Field(default_factory=dict, repr=False)


class Device(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str  # "<platform>-<uuid>"
    instance_id: str
    platform: Platform
    token: str = Field(repr=False)  # web: base64 of the PushSubscription JSON; apns: hex; fcm: registration token
    user_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    bundle_identifier: str | None = None  # APNs only
    created_at: datetime | None = None


TargetKind = Literal["interests", "users"]


class Publish(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str  # "pubid-<uuid>"
    instance_id: str
    kind: TargetKind
    targets: tuple[str, ...]
    payload: dict[str, Any]  # the request body minus `interests` / `users`: {apns?, fcm?, web?, webhookUrl?}
    created_at: datetime | None = None

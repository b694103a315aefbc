"""Builders for FCM provider tests: instances with a service account, devices, publishes, a clock to move."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tidings.beams.models import Device, Instance, Platform, Publish

INSTANCE_ID = "8b7c4a9e-0b1f-4c55-9d36-7a0d1e2f3a4b"


class FakeClock:
    """time.time() that only moves when told to; starts at the real time so JWT times look sane."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_instance(fcm: Any = None, instance_id: str = INSTANCE_ID) -> Instance:
    providers = {} if fcm is None else {"fcm": fcm}
    return Instance(
        id=instance_id, secret_key="secret", vapid_private_key="unused", vapid_public_key="unused", providers=providers
    )


def make_device(token: str | None = None) -> Device:
    return Device(
        id=f"fcm-{uuid.uuid4()}",
        instance_id=INSTANCE_ID,
        platform=Platform.FCM,
        token=token or f"fcm-token-{uuid.uuid4().hex}",
    )


def make_publish(payload: dict[str, Any] | None = None) -> Publish:
    if payload is None:
        payload = {"fcm": {"notification": {"title": "Hello", "body": "World"}}}
    return Publish(
        id=f"pubid-{uuid.uuid4()}", instance_id=INSTANCE_ID, kind="interests", targets=("hello",), payload=payload
    )

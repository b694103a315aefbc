"""Fixtures for the Web Push provider tests: an instance with a VAPID key, the emulator, the provider."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.emulators.webpush import EmulatedSubscription, WebPushEmulator, token_for
from tidings.beams import vapid
from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.providers.webpush import WebPushProvider


@dataclass
class GatewaySettings:
    gateway_ca_file: Path | None = None
    delivery_concurrency: int = 20
    push_allow_private_networks: bool = True  # the emulator is on 127.0.0.1


class FakeClock:
    """Wall-clock seconds that only move when told (starts at the real time: the emulator checks exp on it)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_instance(**providers: Any) -> Instance:
    private_pem, public_b64 = vapid.generate_keypair()
    return Instance(
        id=str(uuid.uuid4()),
        secret_key="secret",
        vapid_private_key=private_pem,
        vapid_public_key=public_b64,
        providers=providers,
    )


def make_device(instance: Instance, subscription: EmulatedSubscription | str) -> Device:
    """A web device whose token is the subscription's (or the given token as is)."""
    token = subscription if isinstance(subscription, str) else token_for(subscription)
    return Device(id=f"web-{uuid.uuid4()}", instance_id=instance.id, platform=Platform.WEB, token=token)


def make_publish(instance: Instance, **payload: Any) -> Publish:
    return Publish(
        id=f"pubid-{uuid.uuid4()}", instance_id=instance.id, kind="interests", targets=("hello",), payload=payload
    )


@pytest.fixture
def instance() -> Instance:
    return make_instance()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def push() -> AsyncIterator[WebPushEmulator]:
    async with WebPushEmulator() as emulator:
        yield emulator


@pytest.fixture
async def provider(clock: FakeClock) -> AsyncIterator[WebPushProvider]:
    web_push = WebPushProvider(GatewaySettings(), clock=clock)
    yield web_push
    await web_push.close()


@pytest.fixture
def subscription(push: WebPushEmulator, instance: Instance) -> EmulatedSubscription:
    # Bound to the instance's key, as the browser is when the web SDK subscribes with it.
    return push.new_subscription(application_server_key=instance.vapid_public_key)

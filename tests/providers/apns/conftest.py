"""Fixtures for the APNs provider tests: a shared fake clock, the emulator, a signing key, the provider."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.support.emulators.apns import ApnsEmulator, SigningKey
from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.providers.apns import ApnsProvider

BUNDLE_ID = "com.example.app"


class FakeClock:
    """Wall-clock seconds that only move when told; the provider and the emulator read the same one."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_instance(apns: dict[str, Any] | None = None) -> Instance:
    return Instance(
        id=str(uuid.uuid4()),
        secret_key="secret",
        vapid_private_key="unused",
        vapid_public_key="unused",
        providers={} if apns is None else {"apns": apns},
    )


def make_device(instance: Instance, token: str, bundle_identifier: str | None = BUNDLE_ID) -> Device:
    return Device(
        id=f"apns-{uuid.uuid4()}",
        instance_id=instance.id,
        platform=Platform.APNS,
        token=token,
        bundle_identifier=bundle_identifier,
    )


def make_publish(instance: Instance, **payload: Any) -> Publish:
    return Publish(
        id=f"pubid-{uuid.uuid4()}", instance_id=instance.id, kind="interests", targets=("hello",), payload=payload
    )


ALERT = {"aps": {"alert": {"title": "Hello", "body": "World"}}}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def apns(clock: FakeClock) -> Iterator[ApnsEmulator]:
    with ApnsEmulator(clock=clock) as emulator:
        yield emulator


@pytest.fixture
def key(apns: ApnsEmulator) -> SigningKey:
    return apns.add_key()


@pytest.fixture
def instance(key: SigningKey) -> Instance:
    return make_instance(key.settings())


@pytest.fixture
def token(apns: ApnsEmulator) -> str:
    return apns.register_device(topic=BUNDLE_ID)


@pytest.fixture
def device(instance: Instance, token: str) -> Device:
    return make_device(instance, token)


@pytest.fixture
async def provider(apns: ApnsEmulator, clock: FakeClock) -> AsyncIterator[ApnsProvider]:
    client = ApnsProvider(apns.url, apns.sandbox_url, apns.ca_file, clock=clock)
    yield client
    await client.close()

"""What the delivery tests share: an in-memory provider, fake time, and quick ways to fill the database."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from tests.storage.test_beams_instances import clear_beams, make_instance
from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.providers.base import Delivered, Outcome
from tidings.storage import Storage
from tidings.storage.schema import beams_device_interests, beams_devices

INSTANCE = "inst-1"
EVERY_PLATFORM = {
    "web": {"notification": {"title": "Hi"}},
    "apns": {"aps": {"alert": {"title": "Hi"}}},
    "fcm": {"notification": {"title": "Hi"}},
}

Script = Callable[[Device, int], Outcome]  # (device, attempt number from 1) -> what the gateway says


class MemoryProvider:
    """A push gateway in memory: answers from `script` (default: delivered), records every request.

    `delay` makes each send take that long (real time), so that sends overlap as they would over a network.
    """

    def __init__(self, platform: Platform, script: Script | None = None, *, delay: float = 0.0) -> None:
        self.platform = platform
        self.script = script or (lambda device, attempt: Delivered(201))
        self.delay = delay
        self.sent: list[tuple[str, str]] = []  # (publish id, device id), one per request
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = False

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            self.sent.append((publish.id, device.id))
            attempt = sum(1 for sent in self.sent if sent == (publish.id, device.id))
            return self.script(device, attempt)
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        self.closed = True


def providers(script: Script | None = None, *, delay: float = 0.0) -> dict[Platform, MemoryProvider]:
    return {platform: MemoryProvider(platform, script, delay=delay) for platform in Platform}


def requests(providers: dict[Platform, MemoryProvider]) -> Counter[tuple[str, str]]:
    """How many requests each (publish, device) got, over every platform."""
    return Counter(sent for provider in providers.values() for sent in provider.sent)


class FakeTime:
    """A wall clock that only moves when someone sleeps on it: retry schedules run instantly."""

    def __init__(self, start: datetime = datetime(2030, 1, 1, tzinfo=UTC)) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def fresh_instance(storage: Storage) -> Storage:
    await clear_beams(storage)
    await storage.instances.create(make_instance(INSTANCE))
    return storage


async def add_devices(
    storage: Storage,
    ids: Iterable[str],
    *,
    user: Callable[[str], str | None] = lambda device_id: None,
    interests: Callable[[str], Sequence[str]] = lambda device_id: (),
    token: Callable[[str], str] = lambda device_id: f"token-of-{device_id}",
    instance_id: str = INSTANCE,
) -> list[str]:
    """Insert devices (and their interests) in bulk: thousands in one statement, not one request each.

    A device's platform is its id's prefix ("web-...", "apns-...", "fcm-...").
    """
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for device_id in ids:
        rows.append(
            {
                "id": device_id,
                "instance_id": instance_id,
                "platform": device_id.split("-", 1)[0],
                "token": token(device_id),
                "user_id": user(device_id),
                "metadata": {},
                "bundle_identifier": None,
                "created_at": now,
                "updated_at": now,
            }
        )
        links += [{"device_id": device_id, "instance_id": instance_id, "interest": i} for i in interests(device_id)]
    async with storage.engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            await conn.execute(insert(beams_devices), rows[start : start + 1000])
        for start in range(0, len(links), 1000):
            await conn.execute(insert(beams_device_interests), links[start : start + 1000])
    return [row["id"] for row in rows]


async def publish(
    storage: Storage,
    publish_id: str,
    kind: str,
    targets: Sequence[str],
    payload: dict[str, Any] | None = None,
    instance_id: str = INSTANCE,
) -> Publish:
    return await storage.publishes.create(
        Publish.model_validate(
            {
                "id": publish_id,
                "instance_id": instance_id,
                "kind": kind,
                "targets": tuple(targets),
                "payload": EVERY_PLATFORM if payload is None else payload,
            }
        )
    )

"""Keyset paging of devices for the delivery workers, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import pytest

from tests.storage.test_beams_devices import INSTANCE, OTHER, make_device
from tests.storage.test_beams_instances import clear_beams, make_instance
from tidings.beams.models import Device, Platform
from tidings.storage import Storage

Page = Callable[[str | None], Awaitable[list[Device]]]


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    await clear_beams(storage)
    await storage.instances.create(make_instance(INSTANCE))
    await storage.instances.create(make_instance(OTHER))
    return storage


async def walk(page: Page) -> list[list[str]]:
    """Every page, following the keyset cursor (the last id of the previous page) until a short page."""
    pages: list[list[str]] = []
    after: str | None = None
    while True:
        devices = await page(after)
        pages.append([device.id for device in devices])
        if not devices:
            return pages
        after = devices[-1].id


async def test_page_by_interests_walks_distinct_devices_in_id_order(beams: Storage) -> None:
    # Created out of id order, with overlapping interests.
    subscriptions = {
        "web-5": ["news", "sport"],
        "web-1": ["news"],
        "apns-3": ["sport", "weather"],
        "web-2": ["weather"],
        "fcm-4": ["news", "sport", "weather"],
        "web-6": ["music"],
    }
    for device_id, interests in subscriptions.items():
        platform = Platform(device_id.split("-")[0])
        await beams.devices.create(make_device(device_id, platform, token=f"tok-{device_id}"))
        await beams.devices.set_interests(INSTANCE, device_id, interests)
    # Same interest in another instance: never included.
    await beams.devices.create(make_device("web-0", instance_id=OTHER))
    await beams.devices.set_interests(OTHER, "web-0", ["news"])

    def page(after: str | None) -> Awaitable[list[Device]]:
        return beams.devices.page_by_interests(INSTANCE, ["news", "sport", "news"], after=after, limit=2)

    assert await walk(page) == [["apns-3", "fcm-4"], ["web-1", "web-5"], []]

    first = await beams.devices.page_by_interests(INSTANCE, ["sport"], after=None, limit=10)
    assert [d.id for d in first] == ["apns-3", "fcm-4", "web-5"]
    assert first[0] == await beams.devices.get(INSTANCE, "apns-3")  # whole devices, not just ids
    assert await beams.devices.page_by_interests(INSTANCE, ["sport"], after="fcm-4", limit=10) == [first[2]]
    assert await beams.devices.page_by_interests(INSTANCE, ["nobody"], after=None, limit=10) == []
    assert await beams.devices.page_by_interests(INSTANCE, [], after=None, limit=10) == []


async def test_page_by_interests_matches_a_brute_force_answer(beams: Storage) -> None:
    rng = random.Random(7)
    interests = [f"i{n}" for n in range(6)]
    subscribed: dict[str, list[str]] = {}
    for n in rng.sample(range(1000), 60):
        device_id = f"web-{n:04d}"
        subscribed[device_id] = rng.sample(interests, rng.randint(0, 4))
        await beams.devices.create(make_device(device_id))
        await beams.devices.set_interests(INSTANCE, device_id, subscribed[device_id])
    wanted = ["i0", "i2", "i5"]
    expected = sorted(d for d, subs in subscribed.items() if set(subs) & set(wanted))

    for limit in (1, 3, 7, 100):

        def page(after: str | None, limit: int = limit) -> Awaitable[list[Device]]:
            return beams.devices.page_by_interests(INSTANCE, wanted, after=after, limit=limit)

        pages = await walk(page)
        assert [d for p in pages for d in p] == expected
        assert all(len(p) == limit for p in pages[:-2])


async def test_page_by_users_walks_the_devices_of_those_users(beams: Storage) -> None:
    owners = {"web-3": "alice", "apns-9": "alice", "web-1": "bob", "fcm-2": "carol", "web-7": "bob", "web-5": None}
    for device_id, user_id in owners.items():
        await beams.devices.create(make_device(device_id, Platform(device_id.split("-")[0])))
        if user_id is not None:
            await beams.devices.set_user(INSTANCE, device_id, user_id)
    await beams.devices.create(make_device("web-0", instance_id=OTHER))
    await beams.devices.set_user(OTHER, "web-0", "alice")

    def page(after: str | None) -> Awaitable[list[Device]]:
        return beams.devices.page_by_users(INSTANCE, ["alice", "bob", "alice", "nobody"], after=after, limit=2)

    assert await walk(page) == [["apns-9", "web-1"], ["web-3", "web-7"], []]

    devices = await beams.devices.page_by_users(INSTANCE, ["carol"], after=None, limit=10)
    assert devices == [await beams.devices.get(INSTANCE, "fcm-2")]
    assert await beams.devices.page_by_users(INSTANCE, ["carol"], after="fcm-2", limit=10) == []
    assert await beams.devices.page_by_users(INSTANCE, [], after=None, limit=10) == []

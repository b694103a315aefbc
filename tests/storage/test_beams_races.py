"""The Beams limits hold under concurrency, on SQLite and PostgreSQL alike.

Each test fires many calls at once through the engine's connection pool (several connections, so
PostgreSQL really runs them in parallel); a check-then-write without a lock lets more than the limit in.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.storage.test_beams_devices import INSTANCE, make_device
from tests.storage.test_beams_instances import clear_beams, make_instance
from tidings.beams.models import Platform
from tidings.storage import InterestResult, SetUserResult, Storage


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    await clear_beams(storage)
    await storage.instances.create(make_instance(INSTANCE))
    return storage


async def test_concurrent_set_user_never_exceeds_the_device_limit(beams: Storage) -> None:
    ids = [f"web-{n:03d}" for n in range(150)]
    for device_id in ids:
        await beams.devices.create(make_device(device_id))
    await beams.devices.create(make_device("apns-1", Platform.APNS))

    results = await asyncio.gather(
        *(beams.devices.set_user(INSTANCE, device_id, "alice", max_per_platform=100) for device_id in ids),
        beams.devices.set_user(INSTANCE, "apns-1", "alice", max_per_platform=100),
    )

    assert Counter(results) == {SetUserResult.OK: 101, SetUserResult.TOO_MANY_DEVICES: 50}
    assert await beams.devices.count_for_user(INSTANCE, "alice") == {
        Platform.WEB: 100,
        Platform.APNS: 1,
        Platform.FCM: 0,
    }


async def test_concurrent_set_user_of_one_device_gives_it_to_exactly_one_user(beams: Storage) -> None:
    await beams.devices.create(make_device("web-1"))
    users = [f"user-{n}" for n in range(20)]

    results = await asyncio.gather(*(beams.devices.set_user(INSTANCE, "web-1", user) for user in users))

    assert Counter(results) == {SetUserResult.OK: 1, SetUserResult.OTHER_USER: 19}
    device = await beams.devices.get(INSTANCE, "web-1")
    assert device is not None and device.user_id == users[results.index(SetUserResult.OK)]


async def test_concurrent_add_interest_never_exceeds_the_interest_limit(beams: Storage) -> None:
    await beams.devices.create(make_device("web-1"))

    results = await asyncio.gather(
        *(beams.devices.add_interest(INSTANCE, "web-1", f"i{n:02d}", max_interests=10) for n in range(40))
    )

    assert Counter(results) == {InterestResult.OK: 10, InterestResult.TOO_MANY: 30}
    page = await beams.devices.list_interests(INSTANCE, "web-1", limit=100, offset=0)
    assert page is not None and len(page[0]) == 10

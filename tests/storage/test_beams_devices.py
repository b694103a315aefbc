"""The DeviceStore contract (devices, users, interests), run against SQLite and PostgreSQL alike.

Paging and the concurrency limits have their own modules: test_beams_paging.py, test_beams_races.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from tests.storage.test_beams_instances import clear_beams, make_instance
from tidings.beams.models import Device, Platform
from tidings.errors import StorageError
from tidings.storage import InterestResult, SetUserResult, Storage
from tidings.storage.schema import beams_device_interests, beams_devices, beams_instances

INSTANCE, OTHER = "inst-1", "inst-2"


def make_device(
    device_id: str, platform: Platform = Platform.WEB, instance_id: str = INSTANCE, **fields: object
) -> Device:
    return Device.model_validate(
        {"id": device_id, "instance_id": instance_id, "platform": platform, "token": f"token-of-{device_id}", **fields}
    )


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    """Two instances, no devices."""
    await clear_beams(storage)
    await storage.instances.create(make_instance(INSTANCE))
    await storage.instances.create(make_instance(OTHER))
    return storage


async def interest_rows(storage: Storage) -> int:
    async with storage.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(beams_device_interests)) or 0)


# -- devices -------------------------------------------------------------------------------------


async def test_create_then_read_back_with_a_utc_creation_time(beams: Storage) -> None:
    device = make_device(
        "apns-1", Platform.APNS, metadata={"sdkVersion": "4.0.0", "iosVersion": "17"}, bundle_identifier="com.x"
    )

    created = await beams.devices.create(device)

    assert created.created_at is not None and created.created_at.tzinfo is not None
    assert created.created_at.utcoffset() == UTC.utcoffset(None)
    assert created == device.model_copy(update={"created_at": created.created_at})
    assert await beams.devices.get(INSTANCE, "apns-1") == created


async def test_a_given_creation_time_is_kept_and_normalised_to_utc(beams: Storage) -> None:
    when = datetime(2023, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=9)))

    created = await beams.devices.create(make_device("web-1", created_at=when))

    assert created.created_at == when and created.created_at.tzinfo is UTC
    stored = await beams.devices.get(INSTANCE, "web-1")
    assert stored is not None and stored.created_at == when


async def test_devices_are_scoped_to_their_instance(beams: Storage) -> None:
    await beams.devices.create(make_device("web-1"))

    assert await beams.devices.get(OTHER, "web-1") is None
    assert await beams.devices.get(INSTANCE, "web-2") is None
    assert await beams.devices.delete(OTHER, "web-1") is False
    assert await beams.devices.set_token(OTHER, "web-1", "t") is None
    assert await beams.devices.set_metadata(OTHER, "web-1", {}) is None
    assert await beams.devices.set_user(OTHER, "web-1", "alice") is SetUserResult.NOT_FOUND
    assert await beams.devices.add_interest(OTHER, "web-1", "x") is InterestResult.NOT_FOUND
    assert await beams.devices.remove_interest(OTHER, "web-1", "x") is False
    assert await beams.devices.set_interests(OTHER, "web-1", ["x"]) is False
    assert await beams.devices.list_interests(OTHER, "web-1", limit=10, offset=0) is None
    assert (await beams.devices.get(INSTANCE, "web-1")) is not None


async def test_create_with_a_taken_id_or_unknown_instance_is_refused(beams: Storage) -> None:
    await beams.devices.create(make_device("web-1"))

    with pytest.raises(StorageError, match="a device with id web-1 already exists") as caught:
        await beams.devices.create(make_device("web-1", token="other"))
    assert caught.value.__cause__ is not None
    with pytest.raises(StorageError, match="no instance with id ghost"):
        await beams.devices.create(make_device("web-2", instance_id="ghost"))

    assert await beams.devices.get(INSTANCE, "web-2") is None


async def test_set_token_and_metadata_return_the_updated_device(beams: Storage) -> None:
    created = await beams.devices.create(make_device("fcm-1", Platform.FCM, metadata={"sdkVersion": "1"}))

    with_token = await beams.devices.set_token(INSTANCE, "fcm-1", "new-token")
    assert with_token == created.model_copy(update={"token": "new-token"})

    with_metadata = await beams.devices.set_metadata(INSTANCE, "fcm-1", {"sdkVersion": "2", "androidVersion": "14"})
    assert with_metadata == created.model_copy(
        update={"token": "new-token", "metadata": {"sdkVersion": "2", "androidVersion": "14"}}
    )
    assert await beams.devices.get(INSTANCE, "fcm-1") == with_metadata
    assert await beams.devices.set_token(INSTANCE, "fcm-2", "x") is None
    assert await beams.devices.set_metadata(INSTANCE, "fcm-2", {}) is None


async def test_delete_takes_the_interests_with_it(beams: Storage) -> None:
    await beams.devices.create(make_device("web-1"))
    await beams.devices.create(make_device("web-2"))
    await beams.devices.set_interests(INSTANCE, "web-1", ["a", "b"])
    await beams.devices.set_interests(INSTANCE, "web-2", ["a"])

    assert await beams.devices.delete(INSTANCE, "web-1") is True
    assert await beams.devices.delete(INSTANCE, "web-1") is False

    assert await beams.devices.get(INSTANCE, "web-1") is None
    assert await interest_rows(beams) == 1
    assert await beams.devices.list_interests(INSTANCE, "web-2", limit=10, offset=0) == (["a"], None)


async def test_deleting_an_instance_cascades_to_devices_and_interests(beams: Storage) -> None:
    await beams.devices.create(make_device("web-1"))
    await beams.devices.create(make_device("web-2", instance_id=OTHER))
    await beams.devices.set_interests(INSTANCE, "web-1", ["a", "b"])
    await beams.devices.set_interests(OTHER, "web-2", ["a"])

    async with beams.engine.begin() as conn:
        await conn.execute(beams_instances.delete().where(beams_instances.c.id == INSTANCE))

    async with beams.engine.connect() as conn:
        remaining = (await conn.execute(select(beams_devices.c.id))).scalars().all()
    assert remaining == ["web-2"]
    assert await interest_rows(beams) == 1


async def test_delete_by_token_removes_only_matching_devices(beams: Storage) -> None:
    for device in [
        make_device("web-1", token="dead"),
        make_device("web-2", token="dead"),
        make_device("web-3", token="alive"),
        make_device("fcm-1", Platform.FCM, token="dead"),
        make_device("web-4", instance_id=OTHER, token="dead"),
    ]:
        await beams.devices.create(device)
    await beams.devices.set_interests(INSTANCE, "web-1", ["a"])

    assert await beams.devices.delete_by_token(INSTANCE, Platform.WEB, "dead") == 2
    assert await beams.devices.delete_by_token(INSTANCE, Platform.WEB, "dead") == 0

    assert await beams.devices.get(INSTANCE, "web-1") is None
    assert await beams.devices.get(INSTANCE, "web-2") is None
    for instance_id, device_id in [(INSTANCE, "web-3"), (INSTANCE, "fcm-1"), (OTHER, "web-4")]:
        assert await beams.devices.get(instance_id, device_id) is not None
    assert await interest_rows(beams) == 0


# -- users ---------------------------------------------------------------------------------------


async def test_set_user_ties_the_device_and_is_idempotent(beams: Storage) -> None:
    await beams.devices.create(make_device("web-1"))

    assert await beams.devices.set_user(INSTANCE, "web-1", "alice") is SetUserResult.OK
    assert await beams.devices.set_user(INSTANCE, "web-1", "alice") is SetUserResult.OK

    device = await beams.devices.get(INSTANCE, "web-1")
    assert device is not None and device.user_id == "alice"
    assert await beams.devices.set_user(INSTANCE, "web-9", "alice") is SetUserResult.NOT_FOUND


async def test_a_device_of_one_user_cannot_be_given_to_another(beams: Storage) -> None:
    await beams.devices.create(make_device("web-1"))
    await beams.devices.set_user(INSTANCE, "web-1", "alice")

    assert await beams.devices.set_user(INSTANCE, "web-1", "bob") is SetUserResult.OTHER_USER

    device = await beams.devices.get(INSTANCE, "web-1")
    assert device is not None and device.user_id == "alice"


async def test_the_device_limit_is_per_user_and_platform(beams: Storage) -> None:
    for n in range(1, 4):
        await beams.devices.create(make_device(f"web-{n}"))
    await beams.devices.create(make_device("apns-1", Platform.APNS))
    await beams.devices.create(make_device("web-x", instance_id=OTHER))

    set_user = beams.devices.set_user
    assert await set_user(INSTANCE, "web-1", "alice", max_per_platform=2) is SetUserResult.OK
    assert await set_user(INSTANCE, "web-2", "alice", max_per_platform=2) is SetUserResult.OK
    assert await set_user(INSTANCE, "web-3", "alice", max_per_platform=2) is SetUserResult.TOO_MANY_DEVICES
    # At the limit, a device already tied to the user is still fine (it is not counted twice).
    assert await set_user(INSTANCE, "web-2", "alice", max_per_platform=2) is SetUserResult.OK
    assert await set_user(INSTANCE, "apns-1", "alice", max_per_platform=2) is SetUserResult.OK
    assert await set_user(INSTANCE, "web-3", "bob", max_per_platform=2) is SetUserResult.OK
    assert await set_user(OTHER, "web-x", "alice", max_per_platform=2) is SetUserResult.OK

    refused = await beams.devices.get(INSTANCE, "web-3")
    assert refused is not None and refused.user_id == "bob"
    assert await beams.devices.count_for_user(INSTANCE, "alice") == {
        Platform.WEB: 2,
        Platform.APNS: 1,
        Platform.FCM: 0,
    }


async def test_delete_user_deletes_every_device_of_that_user_and_their_interests(beams: Storage) -> None:
    for device_id, platform in [("web-1", Platform.WEB), ("apns-1", Platform.APNS), ("web-2", Platform.WEB)]:
        await beams.devices.create(make_device(device_id, platform))
    await beams.devices.create(make_device("web-x", instance_id=OTHER))
    await beams.devices.set_user(INSTANCE, "web-1", "alice")
    await beams.devices.set_user(INSTANCE, "apns-1", "alice")
    await beams.devices.set_user(INSTANCE, "web-2", "bob")
    await beams.devices.set_user(OTHER, "web-x", "alice")
    for device_id in ("web-1", "apns-1", "web-2"):
        await beams.devices.set_interests(INSTANCE, device_id, ["news", "sport"])

    assert await beams.devices.delete_user(INSTANCE, "alice") == 2
    assert await beams.devices.delete_user(INSTANCE, "alice") == 0

    assert await beams.devices.get(INSTANCE, "web-1") is None
    assert await beams.devices.get(INSTANCE, "apns-1") is None
    assert await beams.devices.count_for_user(INSTANCE, "alice") == dict.fromkeys(Platform, 0)
    assert await interest_rows(beams) == 2  # bob's two; alice's went with her devices
    # Publishes made afterwards reach none of alice's devices, to users or to interests.
    assert await beams.devices.page_by_users(INSTANCE, ["alice"], after=None, limit=100) == []
    reached = await beams.devices.page_by_interests(INSTANCE, ["news", "sport"], after=None, limit=100)
    assert [d.id for d in reached] == ["web-2"]
    # Other users and the same user id in another instance keep theirs.
    assert (await beams.devices.count_for_user(INSTANCE, "bob"))[Platform.WEB] == 1
    assert (await beams.devices.count_for_user(OTHER, "alice"))[Platform.WEB] == 1


# -- interests -----------------------------------------------------------------------------------


async def test_add_interest_is_idempotent_and_limited(beams: Storage) -> None:
    await beams.devices.create(make_device("web-1"))
    add = beams.devices.add_interest

    assert await add(INSTANCE, "web-1", "a", max_interests=2) is InterestResult.OK
    assert await add(INSTANCE, "web-1", "a", max_interests=2) is InterestResult.OK
    assert await add(INSTANCE, "web-1", "b", max_interests=2) is InterestResult.OK
    assert await add(INSTANCE, "web-1", "c", max_interests=2) is InterestResult.TOO_MANY
    assert await add(INSTANCE, "web-1", "b", max_interests=2) is InterestResult.OK  # present: fine at the limit
    assert await add(INSTANCE, "web-9", "a") is InterestResult.NOT_FOUND

    assert await beams.devices.list_interests(INSTANCE, "web-1", limit=10, offset=0) == (["a", "b"], None)


async def test_remove_interest(beams: Storage) -> None:
    await beams.devices.create(make_device("web-1"))
    await beams.devices.set_interests(INSTANCE, "web-1", ["a", "b"])

    assert await beams.devices.remove_interest(INSTANCE, "web-1", "a") is True
    assert await beams.devices.remove_interest(INSTANCE, "web-1", "absent") is True
    assert await beams.devices.remove_interest(INSTANCE, "web-9", "b") is False

    assert await beams.devices.list_interests(INSTANCE, "web-1", limit=10, offset=0) == (["b"], None)


async def test_set_interests_replaces_the_set(beams: Storage) -> None:
    await beams.devices.create(make_device("web-1"))
    await beams.devices.create(make_device("web-2"))
    await beams.devices.set_interests(INSTANCE, "web-2", ["keep"])

    assert await beams.devices.set_interests(INSTANCE, "web-1", ["b", "a", "b"]) is True
    assert await beams.devices.list_interests(INSTANCE, "web-1", limit=10, offset=0) == (["a", "b"], None)
    assert await beams.devices.set_interests(INSTANCE, "web-1", ["c"]) is True
    assert await beams.devices.list_interests(INSTANCE, "web-1", limit=10, offset=0) == (["c"], None)
    assert await beams.devices.set_interests(INSTANCE, "web-1", []) is True
    assert await beams.devices.list_interests(INSTANCE, "web-1", limit=10, offset=0) == ([], None)
    assert await beams.devices.set_interests(INSTANCE, "web-9", ["a"]) is False

    assert await beams.devices.list_interests(INSTANCE, "web-2", limit=10, offset=0) == (["keep"], None)


async def test_set_interests_takes_a_full_set_of_5000(beams: Storage) -> None:
    await beams.devices.create(make_device("web-1"))
    names = [f"interest-{n:04d}" for n in range(5000)]

    assert await beams.devices.set_interests(INSTANCE, "web-1", names[::-1]) is True

    assert await beams.devices.list_interests(INSTANCE, "web-1", limit=5000, offset=0) == (names, None)
    assert await beams.devices.add_interest(INSTANCE, "web-1", "one-more") is InterestResult.TOO_MANY


async def test_list_interests_pages_in_code_point_order(beams: Storage) -> None:
    await beams.devices.create(make_device("web-1"))
    # Every character class the interest name rule allows; a locale-aware collation would order these
    # differently (case folded, punctuation ignored).
    names = ["b", "B", "a", "A", "_x", "-x", "=x", "@x", ",x", ".x", ";x", "0", "Z9", "z-1", "z_1"]
    await beams.devices.set_interests(INSTANCE, "web-1", names)
    expected = sorted(names)

    pages, offset = [], 0
    while True:
        page = await beams.devices.list_interests(INSTANCE, "web-1", limit=4, offset=offset)
        assert page is not None
        pages.append(page[0])
        if page[1] is None:
            break
        offset = page[1]

    assert [len(p) for p in pages] == [4, 4, 4, 3]
    assert [name for p in pages for name in p] == expected
    assert await beams.devices.list_interests(INSTANCE, "web-1", limit=5, offset=10) == (expected[10:], None)
    assert await beams.devices.list_interests(INSTANCE, "web-1", limit=5, offset=15) == ([], None)
    assert await beams.devices.list_interests(INSTANCE, "web-1", limit=15, offset=0) == (expected, None)
    assert await beams.devices.list_interests(INSTANCE, "web-1", limit=14, offset=0) == (expected[:14], 14)

"""The AppStore contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from tidings.channels.apps import App, AppLimits
from tidings.channels.credentials import new_app
from tidings.errors import RecordNotFound, StorageError
from tidings.storage import Storage, open_storage
from tidings.storage.schema import apps as apps_table


def make_app(app_id: str = "1000001", key: str = "key-1", **fields: object) -> App:
    return App.model_validate({"id": app_id, "key": key, "secret": f"secret-of-{app_id}", **fields})


async def test_create_then_read_back_by_id_and_key(storage: Storage) -> None:
    app = make_app(name="chat", enable_client_events=True, enable_subscription_count=True)

    assert await storage.apps.create(app) == app

    assert await storage.apps.get("1000001") == app
    assert await storage.apps.get_by_key("key-1") == app


async def test_missing_app_reads_as_none(storage: Storage) -> None:
    assert await storage.apps.get("404") is None
    assert await storage.apps.get_by_key("nope") is None


# Keys no app can have: they arrive from URL paths (/app/{key}, /apps/{app_id}/...) and must be "not found".
IMPOSSIBLE_KEYS = [
    pytest.param("1000001\x00", id="nul"),  # PostgreSQL refuses NUL in text: it was a driver error, a 500
    pytest.param("key-\ud800", id="lone-surrogate"),  # not UTF-8: neither driver can send it
    pytest.param("k" * 256, id="over-255"),
]


@pytest.mark.parametrize("value", IMPOSSIBLE_KEYS)
async def test_a_key_or_id_no_app_can_have_reads_as_none(storage: Storage, value: str) -> None:
    await storage.apps.create(make_app())

    assert await storage.apps.get(value) is None
    assert await storage.apps.get_by_key(value) is None


async def test_the_longest_id_and_key_are_stored_and_found(storage: Storage) -> None:
    app = make_app("1" * 255, "k" * 255)
    await storage.apps.create(app)

    assert await storage.apps.get("1" * 255) == app
    assert await storage.apps.get_by_key("k" * 255) == app


async def test_list_and_count_in_creation_order(storage: Storage) -> None:
    assert await storage.apps.list() == []
    assert await storage.apps.count() == 0
    # Ids deliberately out of order: the list follows created_at, not the id.
    created = [make_app("3000003", "k3"), make_app("1000001", "k1"), make_app("2000002", "k2")]
    for app in created:
        await storage.apps.create(app)

    assert await storage.apps.list() == created
    assert await storage.apps.count() == 3


async def test_create_with_taken_id_names_the_id(storage: Storage) -> None:
    await storage.apps.create(make_app("1000001", "k1"))

    with pytest.raises(StorageError, match="an app with id 1000001 already exists") as caught:
        await storage.apps.create(make_app("1000001", "k2"))

    assert caught.value.__cause__ is not None  # the driver error stays chained for the logs
    assert await storage.apps.count() == 1


async def test_create_with_taken_key_names_the_key_and_hides_the_secret(storage: Storage) -> None:
    await storage.apps.create(make_app("1000001", "shared"))

    with pytest.raises(StorageError, match="an app with key shared already exists") as caught:
        await storage.apps.create(make_app("2000002", "shared"))

    assert "secret-of" not in str(caught.value)
    assert await storage.apps.get("2000002") is None


async def test_update_changes_only_the_given_fields(storage: Storage) -> None:
    await storage.apps.create(make_app(name="before"))

    updated = await storage.apps.update("1000001", name="after", enabled=False, enable_client_events=True)

    assert updated == make_app(name="after", enabled=False, enable_client_events=True)
    assert await storage.apps.get("1000001") == updated


async def test_update_merges_a_limits_mapping_and_replaces_an_applimits(storage: Storage) -> None:
    await storage.apps.create(make_app(limits={"max_batch_size": 20}))

    merged = await storage.apps.update("1000001", limits={"max_connections": 5})
    assert merged.limits == AppLimits(max_batch_size=20, max_connections=5)

    replaced = await storage.apps.update("1000001", limits=AppLimits(max_presence_members=7))
    assert replaced.limits == AppLimits(max_presence_members=7)
    assert (await storage.apps.get("1000001")) == replaced


async def test_update_validates_through_the_model(storage: Storage) -> None:
    await storage.apps.create(make_app())

    with pytest.raises(ValidationError):
        await storage.apps.update("1000001", limits={"max_batch_size": 0})
    with pytest.raises(ValidationError):
        await storage.apps.update("1000001", colour="blue")
    with pytest.raises(ValueError, match="id cannot be changed"):
        await storage.apps.update("1000001", id="2000002")

    assert await storage.apps.get("1000001") == make_app()


async def test_update_of_a_missing_app_is_not_found(storage: Storage) -> None:
    with pytest.raises(RecordNotFound, match="no app with id 404"):
        await storage.apps.update("404", name="x")


async def test_update_to_a_taken_key_is_refused(storage: Storage) -> None:
    await storage.apps.create(make_app("1000001", "k1"))
    await storage.apps.create(make_app("2000002", "k2"))

    with pytest.raises(StorageError, match="an app with key k1 already exists"):
        await storage.apps.update("2000002", key="k1")

    assert (await storage.apps.get("2000002")) == make_app("2000002", "k2")


async def test_upsert_inserts_then_overwrites_in_place(storage: Storage) -> None:
    first = make_app("1000001", "k1", name="one")
    await storage.apps.upsert(first)
    await storage.apps.create(make_app("2000002", "k2"))
    assert await storage.apps.get("1000001") == first

    changed = make_app("1000001", "k1-rotated", name="uno", secret="new", limits={"max_connections": 1})
    assert await storage.apps.upsert(changed) == changed

    assert await storage.apps.get("1000001") == changed
    assert await storage.apps.get_by_key("k1") is None
    assert await storage.apps.count() == 2
    # Overwriting keeps created_at: the app is still the oldest.
    assert [a.id for a in await storage.apps.list()] == ["1000001", "2000002"]


async def test_upsert_to_a_key_of_another_app_is_refused(storage: Storage) -> None:
    await storage.apps.create(make_app("1000001", "k1"))

    with pytest.raises(StorageError, match="an app with key k1 already exists"):
        await storage.apps.upsert(make_app("2000002", "k1"))


async def test_limits_round_trip_through_json(storage: Storage) -> None:
    limits = AppLimits(
        max_connections=None, max_event_data_bytes=1, max_channels_per_event=2, max_batch_size=3,
        max_channel_name_length=4, max_event_name_length=5, max_presence_members=6,
        max_presence_user_info_bytes=7, client_events_per_second=0, max_channels_per_connection=8,
    )
    await storage.apps.create(make_app("1000001", "k1", limits=limits))
    await storage.apps.create(make_app("2000002", "k2", limits=limits.model_copy(update={"max_connections": 0})))

    assert (await storage.apps.get("1000001")) == make_app("1000001", "k1", limits=limits)
    assert (await storage.apps.get("2000002")).limits.max_connections == 0  # type: ignore[union-attr]


async def test_unlimited_channels_per_connection_round_trip(storage: Storage) -> None:
    await storage.apps.create(make_app(limits=AppLimits(max_channels_per_connection=None)))

    assert (await storage.apps.get("1000001")).limits.max_channels_per_connection is None  # type: ignore[union-attr]


async def test_limits_stored_before_a_limit_existed_read_with_its_default(storage: Storage) -> None:
    # Rows written before max_channels_per_connection existed have no such JSON key: no migration needed.
    await storage.apps.create(make_app(limits=AppLimits(max_batch_size=3)))
    old_limits = AppLimits(max_batch_size=3).model_dump(exclude={"max_channels_per_connection"})
    async with storage.engine.begin() as conn:
        await conn.execute(apps_table.update().values(limits=old_limits))

    limits = (await storage.apps.get("1000001")).limits  # type: ignore[union-attr]
    assert (limits.max_batch_size, limits.max_channels_per_connection) == (3, 1000)


async def test_generated_apps_store_like_any_other(storage: Storage) -> None:
    app = new_app("generated", enable_user_authentication=True)

    await storage.apps.create(app)

    assert await storage.apps.get_by_key(app.key) == app


async def test_ping_answers_true_when_the_database_is_up(storage: Storage) -> None:
    assert await storage.ping() is True


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite+aiosqlite:////nonexistent-dir/sub/tidings.db", id="sqlite"),
        pytest.param("postgresql+asyncpg://postgres@127.0.0.1:1/none", id="postgres", marks=pytest.mark.postgres),
    ],
)
async def test_an_unreachable_database_is_a_storage_error_and_not_ready(url: str) -> None:
    storage = await open_storage(url)
    try:
        assert await storage.ping(timeout=5) is False
        with pytest.raises(StorageError, match="reading app failed") as caught:
            await storage.apps.get("1")
        assert caught.value.__cause__ is not None
    finally:
        await storage.close()
        # aiosqlite stops the worker thread of a failed connect without awaiting it; let it finish
        # before pytest-asyncio closes this loop, or the thread reports "Event loop is closed".
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite+aiosqlite:////nonexistent-dir/sub/tidings.db", id="sqlite"),
        pytest.param("postgresql+asyncpg://postgres@127.0.0.1:1/none", id="postgres", marks=pytest.mark.postgres),
    ],
)
@pytest.mark.parametrize("value", IMPOSSIBLE_KEYS)
async def test_impossible_keys_are_answered_without_the_database(url: str, value: str) -> None:
    # The database is unreachable: a query would raise StorageError, so None proves none was made.
    storage = await open_storage(url)
    try:
        assert await storage.apps.get(value) is None
        assert await storage.apps.get_by_key(value) is None
        assert await storage.instances.get(value) is None
    finally:
        await storage.close()

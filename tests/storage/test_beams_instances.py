"""The InstanceStore contract, run against SQLite and PostgreSQL alike.

Also the helpers the other test_beams_* modules share: `make_instance` and `clear_beams`.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tidings.beams.models import Instance
from tidings.errors import RecordNotFound, StorageError
from tidings.storage import Storage
from tidings.storage.schema import beams_instances, beams_publishes, beams_reports


def make_instance(instance_id: str = "inst-1", **fields: object) -> Instance:
    return Instance.model_validate(
        {
            "id": instance_id,
            "secret_key": f"secret-of-{instance_id}",
            "vapid_private_key": f"private-of-{instance_id}",
            "vapid_public_key": f"public-of-{instance_id}",
            **fields,
        }
    )


async def clear_beams(storage: Storage) -> None:
    """Empty the Beams tables (PostgreSQL is shared by the session); devices and interests cascade."""
    async with storage.engine.begin() as conn:
        for table in (beams_reports, beams_publishes, beams_instances):
            await conn.execute(table.delete())


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    await clear_beams(storage)
    return storage


async def test_create_then_read_back(beams: Storage) -> None:
    instance = make_instance(name="shop", providers={"apns": {"team_id": "T1", "keys": [1, 2]}})

    assert await beams.instances.create(instance) == instance

    assert await beams.instances.get("inst-1") == instance
    assert await beams.instances.get("nope") is None


@pytest.mark.parametrize(
    "instance_id",
    [
        pytest.param("inst-1\x00", id="nul"),  # PostgreSQL refuses NUL in text: it was a driver error, a 500
        pytest.param("inst-\ud800", id="lone-surrogate"),  # not UTF-8: neither driver can send it
        pytest.param("i" * 256, id="over-255"),
    ],
)
async def test_an_id_no_instance_can_have_reads_as_none(beams: Storage, instance_id: str) -> None:
    await beams.instances.create(make_instance())

    assert await beams.instances.get(instance_id) is None


async def test_list_and_count_in_creation_order(beams: Storage) -> None:
    assert await beams.instances.list() == []
    assert await beams.instances.count() == 0
    # Ids deliberately out of order: the list follows created_at, not the id.
    created = [make_instance("c"), make_instance("a"), make_instance("b")]
    for instance in created:
        await beams.instances.create(instance)

    assert await beams.instances.list() == created
    assert await beams.instances.count() == 3


async def test_create_with_taken_id_is_refused_without_the_secret(beams: Storage) -> None:
    await beams.instances.create(make_instance())

    with pytest.raises(StorageError, match="an instance with id inst-1 already exists") as caught:
        await beams.instances.create(make_instance(name="again"))

    assert caught.value.__cause__ is not None
    assert "secret-of" not in str(caught.value)
    assert await beams.instances.get("inst-1") == make_instance()


async def test_upsert_inserts_a_new_instance(beams: Storage) -> None:
    instance = make_instance(name="new")

    assert await beams.instances.upsert(instance) == instance
    assert await beams.instances.get("inst-1") == instance


async def test_upsert_keeps_the_stored_vapid_keys_by_default(beams: Storage) -> None:
    await beams.instances.create(make_instance())
    await beams.instances.create(make_instance("other"))
    changed = make_instance(
        secret_key="rotated", name="renamed", providers={"fcm": {}}, vapid_private_key="x", vapid_public_key="y"
    )

    stored = await beams.instances.upsert(changed)

    kept = {"vapid_private_key": "private-of-inst-1", "vapid_public_key": "public-of-inst-1"}
    expected = changed.model_copy(update=kept)
    assert stored == expected
    assert await beams.instances.get("inst-1") == expected
    # Overwriting keeps created_at: it is still the oldest.
    assert [i.id for i in await beams.instances.list()] == ["inst-1", "other"]


async def test_upsert_without_keep_vapid_replaces_the_keys(beams: Storage) -> None:
    await beams.instances.create(make_instance())
    changed = make_instance(vapid_private_key="x", vapid_public_key="y")

    assert await beams.instances.upsert(changed, keep_vapid=False) == changed
    assert await beams.instances.get("inst-1") == changed


async def test_update_changes_only_the_given_fields(beams: Storage) -> None:
    await beams.instances.create(make_instance(name="before", providers={"apns": {"a": 1}}))

    updated = await beams.instances.update("inst-1", name="after", providers={"web": {"b": 2}})

    assert updated == make_instance(name="after", providers={"web": {"b": 2}})
    assert await beams.instances.get("inst-1") == updated


async def test_update_validates_through_the_model(beams: Storage) -> None:
    await beams.instances.create(make_instance())

    with pytest.raises(ValidationError):
        await beams.instances.update("inst-1", colour="blue")
    with pytest.raises(ValidationError):
        await beams.instances.update("inst-1", providers="not a mapping")
    with pytest.raises(ValueError, match="id cannot be changed"):
        await beams.instances.update("inst-1", id="inst-2")

    assert await beams.instances.get("inst-1") == make_instance()


async def test_update_of_a_missing_instance_is_not_found(beams: Storage) -> None:
    with pytest.raises(RecordNotFound, match="no instance with id nope"):
        await beams.instances.update("nope", name="x")

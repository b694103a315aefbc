"""The PublishStore contract (publishes and delivery reports), run against SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.storage.test_beams_instances import clear_beams
from tidings.beams.models import Publish
from tidings.errors import StorageError
from tidings.storage import Storage, open_storage
from tidings.storage.schema import beams_publishes

PAYLOAD = {"web": {"notification": {"title": "Hi", "body": "there"}}, "webhookUrl": "https://example.com/h"}


def make_publish(publish_id: str = "pubid-1", instance_id: str = "inst-1", **fields: object) -> Publish:
    values = {"id": publish_id, "instance_id": instance_id, "kind": "interests", "targets": ("news",), **fields}
    return Publish.model_validate({"payload": PAYLOAD, **values})


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    await clear_beams(storage)
    return storage


async def test_create_is_durable_and_reads_back(beams: Storage) -> None:
    publish = make_publish(kind="users", targets=("alice", "bob"))

    created = await beams.publishes.create(publish)

    assert created.created_at is not None and created.created_at.tzinfo is UTC
    assert created == publish.model_copy(update={"created_at": created.created_at})
    # Another engine (as another process would) sees it: it was committed before create returned.
    other = await open_storage(beams.url.render_as_string(hide_password=False))
    try:
        assert await other.publishes.get("inst-1", "pubid-1") == created
    finally:
        await other.close()
    async with beams.engine.connect() as conn:
        assert await conn.scalar(select(beams_publishes.c.status)) == "queued"


async def test_a_given_creation_time_is_kept(beams: Storage) -> None:
    when = datetime(2023, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

    assert (await beams.publishes.create(make_publish(created_at=when))).created_at == when
    stored = await beams.publishes.get("inst-1", "pubid-1")
    assert stored is not None and stored.created_at == when


async def test_publishes_are_scoped_to_their_instance(beams: Storage) -> None:
    await beams.publishes.create(make_publish())

    assert await beams.publishes.get("inst-2", "pubid-1") is None
    assert await beams.publishes.get("inst-1", "pubid-2") is None


async def test_create_with_a_taken_id_is_refused(beams: Storage) -> None:
    await beams.publishes.create(make_publish())

    with pytest.raises(StorageError, match="a publish with id pubid-1 already exists") as caught:
        await beams.publishes.create(make_publish(targets=("other",)))

    assert caught.value.__cause__ is not None
    stored = await beams.publishes.get("inst-1", "pubid-1")
    assert stored is not None and stored.targets == ("news",)


async def test_report_counts_count_devices_per_event(beams: Storage) -> None:
    assert await beams.publishes.report_counts("inst-1", "pubid-1") == {"delivery": 0, "open": 0}
    reports = [
        ("inst-1", "pubid-1", "delivery", "web-1", None),
        ("inst-1", "pubid-1", "Delivery", "apns-1", "alice"),  # iOS / Android spelling
        ("inst-1", "pubid-1", "delivery", "apns-1", "alice"),  # a retried report: same device
        ("inst-1", "pubid-1", "Open", "apns-1", "alice"),
        ("inst-1", "pubid-2", "delivery", "web-2", None),  # another publish
        ("inst-2", "pubid-1", "open", "web-3", None),  # another instance
    ]
    for instance_id, publish_id, event, device_id, user_id in reports:
        await beams.publishes.add_report(
            instance_id, publish_id, event, device_id, user_id, 1_700_000_000, {"appInBackground": True}
        )

    assert await beams.publishes.report_counts("inst-1", "pubid-1") == {"delivery": 2, "open": 1}
    assert await beams.publishes.report_counts("inst-1", "pubid-2") == {"delivery": 1, "open": 0}
    assert await beams.publishes.report_counts("inst-2", "pubid-1") == {"delivery": 0, "open": 1}

"""The PublishStore contract (publishes and delivery reports), run against SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from tests.storage.test_beams_instances import clear_beams
from tidings.beams.models import Publish
from tidings.errors import StorageError
from tidings.storage import Storage, open_storage
from tidings.storage.beams import ReportResult
from tidings.storage.schema import beams_deliveries, beams_publishes, beams_reports

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


async def target(storage: Storage, publish_id: str, *device_ids: str, outcome: str = "pending") -> None:
    """What the delivery worker writes when it expands a publish: a row per targeted device."""
    rows = [
        {"publish_id": publish_id, "device_id": device_id, "platform": device_id.split("-")[0], "outcome": outcome,
         "attempts": 0, "created_at": datetime(2024, 1, 1, tzinfo=UTC)}
        for device_id in device_ids
    ]
    async with storage.engine.begin() as conn:
        await conn.execute(insert(beams_deliveries), rows)


async def report_rows(storage: Storage) -> list[tuple[str, str, str, str | None]]:
    r = beams_reports.c
    async with storage.engine.connect() as conn:
        rows = await conn.execute(select(r.publish_id, r.device_id, r.event, r.user_id).order_by(r.id))
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def report(storage: Storage, instance_id: str, publish_id: str, event: str, device_id: str,
                 user_id: str | None = None) -> ReportResult:
    return await storage.publishes.add_report(
        instance_id, publish_id, event, device_id, user_id, 1_700_000_000, {"appInBackground": True}
    )


async def test_report_counts_count_devices_per_event(beams: Storage) -> None:
    assert await beams.publishes.report_counts("inst-1", "pubid-1") == {"delivery": 0, "open": 0}
    await beams.publishes.create(make_publish("pubid-1"))
    await beams.publishes.create(make_publish("pubid-2"))
    await beams.publishes.create(make_publish("pubid-3", instance_id="inst-2"))
    await target(beams, "pubid-1", "web-1", "apns-1")
    await target(beams, "pubid-2", "web-2", outcome="sent")
    await target(beams, "pubid-3", "web-3", outcome="failed")
    reports = [
        ("inst-1", "pubid-1", "delivery", "web-1", None),
        ("inst-1", "pubid-1", "Delivery", "apns-1", "alice"),  # iOS / Android spelling
        ("inst-1", "pubid-1", "delivery", "apns-1", "alice"),  # a retried report: same device
        ("inst-1", "pubid-1", "Open", "apns-1", "alice"),
        ("inst-1", "pubid-2", "delivery", "web-2", None),  # another publish
        ("inst-2", "pubid-3", "open", "web-3", None),  # another instance
    ]
    for instance_id, publish_id, event, device_id, user_id in reports:
        await report(beams, instance_id, publish_id, event, device_id, user_id)

    assert await beams.publishes.report_counts("inst-1", "pubid-1") == {"delivery": 2, "open": 1}
    assert await beams.publishes.report_counts("inst-1", "pubid-2") == {"delivery": 1, "open": 0}
    assert await beams.publishes.report_counts("inst-2", "pubid-3") == {"delivery": 0, "open": 1}


async def test_a_device_reports_each_event_of_a_publish_once(beams: Storage) -> None:
    await beams.publishes.create(make_publish())
    await target(beams, "pubid-1", "apns-1")

    assert await report(beams, "inst-1", "pubid-1", "Delivery", "apns-1", "alice") is ReportResult.RECORDED
    # The mobile SDKs retry a report they could not confirm; the web SDK spells the event in lower case.
    assert await report(beams, "inst-1", "pubid-1", "Delivery", "apns-1", "alice") is ReportResult.DUPLICATE
    assert await report(beams, "inst-1", "pubid-1", "delivery", "apns-1", "mallory") is ReportResult.DUPLICATE
    assert await report(beams, "inst-1", "pubid-1", "open", "apns-1", "alice") is ReportResult.RECORDED

    assert await report_rows(beams) == [
        ("pubid-1", "apns-1", "delivery", "alice"),
        ("pubid-1", "apns-1", "open", "alice"),
    ]


@pytest.mark.parametrize("outcome", ["pending", "sent", "failed", "removed", "skipped"])
async def test_a_targeted_device_may_report_whatever_its_delivery_outcome(beams: Storage, outcome: str) -> None:
    # The worker writes the row ("pending") before it sends: a service worker's report may beat the result.
    await beams.publishes.create(make_publish())
    await target(beams, "pubid-1", "web-1", outcome=outcome)

    assert await report(beams, "inst-1", "pubid-1", "delivery", "web-1") is ReportResult.RECORDED


async def test_a_report_from_a_device_the_publish_never_targeted_is_not_recorded(beams: Storage) -> None:
    await beams.publishes.create(make_publish("pubid-1"))
    await beams.publishes.create(make_publish("pubid-2"))
    await beams.publishes.create(make_publish("pubid-other", instance_id="inst-2"))
    await target(beams, "pubid-1", "web-1")
    await target(beams, "pubid-2", "web-2")
    await target(beams, "pubid-other", "web-9")

    forged = [
        ("inst-1", "pubid-1", "open", "web-2"),  # a real device, targeted by another publish
        ("inst-1", "pubid-1", "open", "web-unknown"),  # no such device
        ("inst-1", "pubid-unknown", "open", "web-1"),  # no such publish
        ("inst-1", "pubid-other", "open", "web-9"),  # another instance's publish and device
        ("inst-2", "pubid-1", "open", "web-1"),  # this publish and device, named with another instance
    ]
    for instance_id, publish_id, event, device_id in forged:
        result = await report(beams, instance_id, publish_id, event, device_id, "victim")
        assert result is ReportResult.NOT_TARGETED, (instance_id, publish_id, device_id)

    assert await report_rows(beams) == []
    assert await beams.publishes.report_counts("inst-1", "pubid-1") == {"delivery": 0, "open": 0}

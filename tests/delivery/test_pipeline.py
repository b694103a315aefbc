"""A worker delivers a stored publish to every target device, page by page, and records each outcome."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy import select, update

from tests.delivery.support import (
    INSTANCE,
    FakeTime,
    add_devices,
    fresh_instance,
    providers,
    publish,
    requests,
)
from tidings.beams import events as ev
from tidings.beams.models import Device, Platform
from tidings.delivery import DeliveryConfig, DeliveryWorker, WorkerPool
from tidings.providers.base import DeadToken, Delivered, Failed, Outcome, Skipped
from tidings.storage import Storage
from tidings.storage.delivery import Expansion
from tidings.storage.schema import beams_deliveries, beams_publishes


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    return await fresh_instance(storage)


async def test_users_publish_reaches_each_device_of_those_users_once(beams: Storage) -> None:
    owners = {"web-a1": "alice", "apns-a2": "alice", "fcm-b1": "bob", "web-c1": "carol", "web-x": None}
    await add_devices(beams, owners, user=owners.get)
    await publish(beams, "pub-1", "users", ["alice", "bob", "nobody"])
    fake = providers()
    stream = ev.EventStream()
    seen: list[ev.Event] = []
    stream.subscribe(seen.append)

    await DeliveryWorker(beams, fake, stream=stream).drain()

    assert requests(fake) == {("pub-1", "web-a1"): 1, ("pub-1", "apns-a2"): 1, ("pub-1", "fcm-b1"): 1}
    status = await beams.delivery.status(INSTANCE, "pub-1")
    assert status is not None and status.state == "done" and status.finished_at is not None
    assert status.devices == {"sent": 3, "failed": 0, "removed": 0, "skipped": 0}
    delivered = [e for e in seen if isinstance(e, ev.BeamsDelivered)]
    assert {(e.device_id, e.user_id, e.platform, e.outcome, e.status) for e in delivered} == {
        ("web-a1", "alice", "web", "sent", 201),
        ("apns-a2", "alice", "apns", "sent", 201),
        ("fcm-b1", "bob", "fcm", "sent", 201),
    }
    assert isinstance(seen[0], ev.BeamsPublishStarted) and not seen[0].resumed
    assert seen[-1] == ev.BeamsPublishFinished(INSTANCE, "pub-1")
    assert not await DeliveryWorker(beams, fake).step()  # nothing left in the queue


@pytest.mark.slow  # thousands of devices
async def test_interests_publish_pages_through_thousands_of_devices(beams: Storage) -> None:
    ids = [f"web-{n:05d}" for n in range(2500)]
    # Overlapping interests: a device in both gets one notification.
    await add_devices(beams, ids, interests=lambda d: ["news", "sport"] if d.endswith("0") else ["news"])
    await add_devices(beams, [f"web-z{n}" for n in range(50)], interests=lambda d: ["other"])
    await publish(beams, "pub-1", "interests", ["news", "sport"])
    fake = providers(delay=0.02)  # long enough for batches to overlap
    config = DeliveryConfig(page_size=300, concurrency=20, batch_size=8)
    worker = DeliveryWorker(beams, fake, config)
    expansions: list[int] = []
    expand = beams.delivery.expand

    async def counting(publish_id: str, page_size: int, now: datetime) -> Expansion | None:
        result = await expand(publish_id, page_size, now)
        if result is not None:
            expansions.append(result.added)
        return result

    beams.delivery.expand = counting  # type: ignore[method-assign]
    await worker.drain()

    assert requests(fake) == {("pub-1", device_id): 1 for device_id in ids}
    # Memory stays bounded: a page of devices expanded per step, never more sends in flight than allowed.
    assert expansions == [300] * 8 + [100]
    assert fake[Platform.WEB].max_in_flight == 20
    status = await beams.delivery.status(INSTANCE, "pub-1")
    assert status is not None and status.devices["sent"] == 2500 and status.pending == 0


async def test_every_outcome_is_recorded_and_dead_devices_are_removed(beams: Storage) -> None:
    answers: dict[str, Outcome] = {
        "web-ok": Delivered(201),
        "web-dead": DeadToken("expired subscription", 410),
        "apns-dead": DeadToken("Unregistered", 410),
        "fcm-bad": Failed("INVALID_ARGUMENT", 400),
        "fcm-off": Skipped("no FCM credentials"),
    }
    await add_devices(beams, answers, interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])
    fake = providers(lambda device, attempt: answers[device.id])

    await DeliveryWorker(beams, fake).drain()

    status = await beams.delivery.status(INSTANCE, "pub-1")
    assert status is not None and status.devices == {"sent": 1, "failed": 1, "removed": 2, "skipped": 1}
    assert await beams.devices.get(INSTANCE, "web-dead") is None
    assert await beams.devices.get(INSTANCE, "apns-dead") is None
    assert await beams.devices.get(INSTANCE, "fcm-bad") is not None  # a failure is not a dead token
    async with beams.engine.connect() as conn:
        rows = (await conn.execute(select(beams_deliveries).order_by(beams_deliveries.c.device_id))).all()
    assert [(r.device_id, r.outcome, r.status_code, r.reason, r.attempts) for r in rows] == [
        ("apns-dead", "removed", 410, "Unregistered", 1),
        ("fcm-bad", "failed", 400, "INVALID_ARGUMENT", 1),
        ("fcm-off", "skipped", None, "no FCM credentials", 1),
        ("web-dead", "removed", 410, "expired subscription", 1),
        ("web-ok", "sent", 201, None, 1),
    ]


async def test_devices_without_a_payload_or_a_provider_for_their_platform_are_skipped(beams: Storage) -> None:
    await add_devices(beams, ["web-1", "apns-1", "fcm-1"], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"], {"web": {"notification": {"title": "Hi"}}, "fcm": {}})
    fake = providers()
    del fake[Platform.FCM]

    await DeliveryWorker(beams, fake).drain()

    assert requests(fake) == {("pub-1", "web-1"): 1}
    async with beams.engine.connect() as conn:
        rows = dict((await conn.execute(select(beams_deliveries.c.device_id, beams_deliveries.c.reason))).all())
    assert rows == {
        "web-1": None,
        "apns-1": "no apns payload in the publish",
        "fcm-1": "no fcm provider configured",
    }


async def test_a_provider_that_raises_fails_that_device_only(beams: Storage) -> None:
    def script(device: Device, attempt: int) -> Outcome:
        if device.id == "web-2":
            raise RuntimeError("bug")
        return Delivered()

    await add_devices(beams, ["web-1", "web-2", "web-3"], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])

    await DeliveryWorker(beams, providers(script)).drain()

    status = await beams.delivery.status(INSTANCE, "pub-1")
    assert status is not None and status.state == "done"
    assert status.devices == {"sent": 2, "failed": 1, "removed": 0, "skipped": 0}


async def test_a_publish_with_no_devices_or_no_instance_left_is_finished(beams: Storage) -> None:
    await publish(beams, "pub-1", "interests", ["nobody-here"])
    await publish(beams, "pub-2", "users", ["alice"])
    async with beams.engine.begin() as conn:  # no API deletes instances yet
        await conn.execute(update(beams_publishes).where(beams_publishes.c.id == "pub-2").values(instance_id="gone"))
    worker = DeliveryWorker(beams, providers(), clock=FakeTime())

    await worker.drain()

    for instance_id, publish_id in ((INSTANCE, "pub-1"), ("gone", "pub-2")):
        status = await beams.delivery.status(instance_id, publish_id)
        assert status is not None and status.state == "done"


async def test_the_pool_wakes_on_a_local_publish_without_waiting_for_the_poll(beams: Storage) -> None:
    await add_devices(beams, ["web-1"], interests=lambda d: ["news"])
    stream = ev.EventStream()
    fake = providers()
    pool = WorkerPool(beams, fake, 2, DeliveryConfig(poll_interval=60), stream=stream)
    pool.start()
    try:
        await asyncio.sleep(0.2)  # both workers found the queue empty and sleep for a minute
        await publish(beams, "pub-1", "interests", ["news"])
        stream.emit(ev.BeamsPublishAccepted(INSTANCE, "pub-1", "interests", 1))
        async with asyncio.timeout(5):
            while not requests(fake):
                await asyncio.sleep(0.01)
    finally:
        await pool.stop(grace=5)
    assert requests(fake) == {("pub-1", "web-1"): 1}
    assert all(task.done() for task in pool._tasks)

"""Workers share the queue: no publish delivered twice, a dead worker's job resumed, a stopped one given back."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.delivery.support import (
    INSTANCE,
    FakeTime,
    MemoryProvider,
    add_devices,
    fresh_instance,
    providers,
    publish,
    requests,
)
from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.delivery import DeliveryConfig, DeliveryWorker
from tidings.providers.base import Outcome
from tidings.realtime import events as ev
from tidings.storage import DeliveryResult, Storage, open_storage
from tidings.storage.schema import beams_publishes


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    return await fresh_instance(storage)


async def test_two_workers_on_one_database_deliver_each_device_exactly_once(beams: Storage) -> None:
    ids = [f"{('web', 'apns', 'fcm')[n % 3]}-{n:04d}" for n in range(600)]
    await add_devices(beams, ids, user=lambda d: f"user-{int(d[-4:]) % 50}", interests=lambda d: ["news"])
    for n in range(4):
        await publish(beams, f"pub-i{n}", "interests", ["news"])
        await publish(beams, f"pub-u{n}", "users", [f"user-{u}" for u in range(50)])
    fake = providers(delay=0.002)
    # Two engines, as two `tidings worker` processes would have; small pages so that they interleave.
    other = await open_storage(beams.url.render_as_string(hide_password=False))
    config = DeliveryConfig(page_size=50, concurrency=10)
    workers = [DeliveryWorker(beams, fake, config), DeliveryWorker(other, fake, config)]
    try:
        async with asyncio.timeout(60):
            counts = await asyncio.gather(*(drain(worker) for worker in workers))
    finally:
        await other.close()

    expected = {(f"pub-{kind}{n}", device_id): 1 for kind in "iu" for n in range(4) for device_id in ids}
    assert requests(fake) == expected
    assert sum(counts) == 8 and min(counts) > 0  # both took part
    for kind in "iu":
        status = await beams.delivery.status(INSTANCE, f"pub-{kind}0")
        assert status is not None and status.state == "done" and status.devices["sent"] == 600


async def drain(worker: DeliveryWorker) -> int:
    jobs = 0
    while await worker.run_once():
        jobs += 1
    return jobs


async def test_a_dead_workers_publish_is_resumed_without_resending_what_it_recorded(beams: Storage) -> None:
    ids = await add_devices(beams, [f"web-{n:03d}" for n in range(250)], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])
    time = FakeTime()
    # The dead worker finished its first page (100 devices) and half of the second, then vanished.
    job = await beams.delivery.claim("dead", 30, now=time.now)
    assert job is not None
    sent = [DeliveryResult(device_id, Platform.WEB, "sent") for device_id in ids[:150]]
    assert await beams.delivery.record_page("pub-1", "dead", sent[:100], ids[99])
    assert await beams.delivery.record_page("pub-1", "dead", sent[100:])
    fake = providers()
    stream = ev.EventStream()
    started: list[ev.Event] = []
    stream.subscribe(lambda e: started.append(e) if isinstance(e, ev.BeamsPublishStarted) else None)
    worker = DeliveryWorker(beams, fake, DeliveryConfig(page_size=100), clock=time, stream=stream)

    assert not await worker.run_once()  # the lease is still live
    time.now += timedelta(seconds=31)
    assert await worker.run_once()

    assert requests(fake) == {("pub-1", device_id): 1 for device_id in ids[150:]}
    assert started == [ev.BeamsPublishStarted(INSTANCE, "pub-1", resumed=True)]
    status = await beams.delivery.status(INSTANCE, "pub-1")
    assert status is not None and status.state == "done" and status.devices["sent"] == 250


class Gate(MemoryProvider):
    """Delivers at once, except devices in `held`, which wait until the gate opens."""

    def __init__(self, held: set[str]) -> None:
        super().__init__(Platform.WEB)
        self.held = held
        self.open = asyncio.Event()
        self.waiting = asyncio.Event()

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        if device.id in self.held:
            self.waiting.set()
            await self.open.wait()
        return await super().send(instance, device, publish)


async def test_a_stopped_worker_records_what_is_in_flight_and_gives_the_publish_back(beams: Storage) -> None:
    ids = await add_devices(beams, [f"web-{n:03d}" for n in range(300)], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])
    gate = Gate(held=set(ids[150:]))  # the five senders block on web-150..154, in the second page
    config = DeliveryConfig(page_size=100, concurrency=5, lease_seconds=3600)
    worker = DeliveryWorker(beams, {Platform.WEB: gate}, config)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(gate.waiting.wait(), 10)

    worker.stop()
    await asyncio.sleep(0.05)
    gate.open.set()  # the send in flight completes after the stop: it is recorded all the same
    await asyncio.wait_for(task, 10)

    status = await beams.delivery.status(INSTANCE, "pub-1")
    assert status is not None and status.state == "queued"  # given back at once, not after the lease
    assert status.cursor == ids[99]  # the second page was cut short: no cursor move
    first_pass = requests({Platform.WEB: gate})
    assert set(first_pass) == {("pub-1", device_id) for device_id in ids[:155]}
    assert status.devices["sent"] == 155 and all(n == 1 for n in first_pass.values())

    rest = providers()
    assert await DeliveryWorker(beams, rest, config).run_once()

    assert not set(requests(rest)) & set(first_pass)  # nobody got it twice
    assert set(requests(rest)) | set(first_pass) == {("pub-1", device_id) for device_id in ids}


class Stall(MemoryProvider):
    """While sending to `device_id`, the worker stalls so long that another worker takes the publish over."""

    def __init__(self, storage: Storage, device_id: str) -> None:
        super().__init__(Platform.WEB)
        self.storage = storage
        self.device_id = device_id

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        if device.id == self.device_id:
            async with self.storage.engine.begin() as conn:
                await conn.execute(update(beams_publishes).values(lease_owner="thief"))
        return await super().send(instance, device, publish)


async def test_a_worker_that_lost_its_lease_stops_at_its_next_write(beams: Storage) -> None:
    ids = await add_devices(beams, [f"web-{n:03d}" for n in range(40)], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])
    stall = Stall(beams, ids[15])
    worker = DeliveryWorker(beams, {Platform.WEB: stall}, DeliveryConfig(page_size=20, concurrency=1, flush_size=10))

    assert await worker.run_once()

    status = await beams.delivery.status(INSTANCE, "pub-1")
    assert status is not None and status.state == "running"  # the thief's now
    # The first batch was written before the takeover; the second was refused, and nothing sent after it.
    assert status.devices["sent"] == 10 and status.cursor is None
    assert [device_id for _, device_id in stall.sent] == ids[:20]

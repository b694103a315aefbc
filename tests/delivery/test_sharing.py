"""Workers share the schedule: no device sent twice, a dead worker's rows resumed, a stopped one's given back."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

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
from tidings.errors import StorageError
from tidings.providers.base import Outcome
from tidings.storage import DeliveryResult, Storage, open_storage
from tidings.storage.schema import beams_deliveries


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    return await fresh_instance(storage)


async def leases_held(storage: Storage) -> int:
    async with storage.engine.connect() as conn:
        query = select(func.count()).select_from(beams_deliveries).where(beams_deliveries.c.lease_owner.is_not(None))
        return int(await conn.scalar(query) or 0)


PUBLISHES = 2  # of each kind, to 300 devices: 1200 sends in batches of 10, interleaved between the two workers


@pytest.mark.slow  # 1200 sends through two workers and two engines
async def test_two_workers_on_one_database_deliver_each_device_exactly_once(beams: Storage) -> None:
    ids = [f"{('web', 'apns', 'fcm')[n % 3]}-{n:04d}" for n in range(300)]
    await add_devices(beams, ids, user=lambda d: f"user-{int(d[-4:]) % 50}", interests=lambda d: ["news"])
    for n in range(PUBLISHES):
        await publish(beams, f"pub-i{n}", "interests", ["news"])
        await publish(beams, f"pub-u{n}", "users", [f"user-{u}" for u in range(50)])
    fake = providers(delay=0.002)
    # Two engines, as two `tidings worker` processes would have; small pages and batches so that they interleave.
    other = await open_storage(beams.url.render_as_string(hide_password=False))
    config = DeliveryConfig(page_size=50, concurrency=10, batch_size=10, poll_interval=0.05)
    workers = [DeliveryWorker(beams, fake, config), DeliveryWorker(other, fake, config)]
    try:
        async with asyncio.timeout(90):
            await asyncio.gather(*(worker.drain() for worker in workers))
    finally:
        await other.close()

    expected = {(f"pub-{kind}{n}", device_id): 1 for kind in "iu" for n in range(PUBLISHES) for device_id in ids}
    assert requests(fake) == expected
    assert min(worker.batches for worker in workers) > 0  # both took part
    for kind in "iu":
        for n in range(PUBLISHES):
            status = await beams.delivery.status(INSTANCE, f"pub-{kind}{n}")
            assert status is not None and status.state == "done" and status.devices["sent"] == len(ids)
    assert await leases_held(beams) == 0


async def test_a_dead_workers_rows_are_resumed_without_resending_what_it_recorded(beams: Storage) -> None:
    ids = await add_devices(beams, [f"web-{n:03d}" for n in range(250)], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])
    time = FakeTime()
    # The dead worker expanded the publish, claimed 100 devices, recorded 60 of them, then vanished.
    assert await beams.delivery.expand("pub-1", 500, time.now) is not None
    claimed = await beams.delivery.claim("pub-1", "dead", 100, 30, time.now)
    recorded = [DeliveryResult(c.device_id, Platform.WEB, "sent") for c in claimed[:60]]
    assert await beams.delivery.record("pub-1", "dead", recorded, time.now) == 60
    held = {c.device_id for c in claimed[60:]}
    fake = providers()
    worker = DeliveryWorker(beams, fake, DeliveryConfig(page_size=100), clock=time, sleep=time.sleep)

    # What nobody holds goes at once; the dead worker's 40 only once its lease has run out.
    assert await worker.step()
    await asyncio.gather(*list(worker._tasks))
    assert set(requests(fake)) == {("pub-1", d) for d in ids} - {("pub-1", c.device_id) for c in claimed}
    await worker.drain()

    assert time.now - FakeTime().now >= timedelta(seconds=30)
    assert {d for _, d in requests(fake)} >= held
    assert requests(fake) == {("pub-1", d): 1 for d in ids if d not in {r.device_id for r in recorded}}
    status = await beams.delivery.status(INSTANCE, "pub-1")
    assert status is not None and status.state == "done" and status.devices["sent"] == 250


class Gate(MemoryProvider):
    """Delivers the first `free` sends at once; later ones wait until the gate opens."""

    def __init__(self, free: int) -> None:
        super().__init__(Platform.WEB)
        self.free = free
        self.started = 0
        self.open = asyncio.Event()
        self.waiting = asyncio.Event()

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        self.started += 1
        if self.started > self.free:
            self.waiting.set()
            await self.open.wait()
        return await super().send(instance, device, publish)


async def test_a_stopped_worker_records_what_is_in_flight_and_gives_the_rest_back(beams: Storage) -> None:
    ids = await add_devices(beams, [f"web-{n:03d}" for n in range(300)], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])
    gate = Gate(free=150)
    config = DeliveryConfig(page_size=100, concurrency=5, lease_seconds=3600)
    worker = DeliveryWorker(beams, {Platform.WEB: gate}, config)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(gate.waiting.wait(), 30)

    worker.stop()
    await asyncio.sleep(0.05)
    gate.open.set()  # the sends in flight complete after the stop: they are recorded all the same
    await asyncio.wait_for(task, 30)

    status = await beams.delivery.status(INSTANCE, "pub-1")
    assert status is not None and status.state == "running"
    assert await leases_held(beams) == 0  # given back at once, not after the lease
    first_pass = requests({Platform.WEB: gate})
    assert 150 < len(first_pass) <= 155 and all(n == 1 for n in first_pass.values())
    assert status.devices["sent"] == len(first_pass) and status.pending == 300 - len(first_pass)

    rest = providers()
    await DeliveryWorker(beams, rest, config).drain()

    assert not set(requests(rest)) & set(first_pass)  # nobody got it twice
    assert set(requests(rest)) | set(first_pass) == {("pub-1", device_id) for device_id in ids}


class Stall(MemoryProvider):
    """While sending to `device_id`, the worker stalls so long that another worker takes its rows over."""

    def __init__(self, storage: Storage, device_id: str) -> None:
        super().__init__(Platform.WEB)
        self.storage = storage
        self.device_id = device_id

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        if device.id == self.device_id:
            async with self.storage.engine.begin() as conn:
                stolen = beams_deliveries.c.lease_owner.is_not(None)
                await conn.execute(update(beams_deliveries).where(stolen).values(lease_owner="thief"))
        return await super().send(instance, device, publish)


async def test_a_worker_that_lost_its_leases_records_nothing_for_those_rows(beams: Storage) -> None:
    ids = await add_devices(beams, [f"web-{n:03d}" for n in range(40)], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])
    stall = Stall(beams, ids[15])
    config = DeliveryConfig(page_size=20, concurrency=10, batch_size=10)
    worker = DeliveryWorker(beams, {Platform.WEB: stall}, config)

    for _ in range(4):  # three pages expanded (the last one empty), four batches claimed
        await worker.step()
        await asyncio.gather(*list(worker._tasks))

    status = await beams.delivery.status(INSTANCE, "pub-1")
    assert status is not None and status.state == "running"  # the thief holds ten rows now
    # The batch with the stall was taken over: its results are the thief's to write, not this worker's.
    assert status.devices["sent"] == 30 and status.pending == 10
    async with beams.engine.connect() as conn:
        thief = select(beams_deliveries.c.device_id).where(beams_deliveries.c.lease_owner == "thief")
        assert ids[15] in set((await conn.scalars(thief)).all())


async def test_rows_of_a_batch_whose_results_could_not_be_written_are_sent_again_by_the_same_worker(
    beams: Storage,
) -> None:
    """A database pause while a batch is recorded strands nothing under the worker's id: once the leases run
    out, the lone worker claims those rows again itself."""
    ids = await add_devices(beams, [f"web-{n:02d}" for n in range(10)], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])
    time = FakeTime()
    record = beams.delivery.record
    failures = [StorageError("database paused")]

    async def flaky(*args: Any, **kwargs: Any) -> int:
        if failures:
            raise failures.pop()
        return await record(*args, **kwargs)

    beams.delivery.record = flaky  # type: ignore[method-assign]
    fake = providers()
    await DeliveryWorker(beams, fake, DeliveryConfig(lease_seconds=30), clock=time, sleep=time.sleep).drain()

    assert requests(fake) == {("pub-1", device_id): 2 for device_id in ids}  # sent, not recorded, sent again
    status = await beams.delivery.status(INSTANCE, "pub-1")
    assert status is not None and status.state == "done" and status.devices["sent"] == 10

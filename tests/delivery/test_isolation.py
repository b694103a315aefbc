"""No device and no publish holds up the others: retries are scheduled, not waited for, and instances take turns.

Each test runs a real worker loop (`run`, real time) and checks that other work completes while the
troublesome one is still going; the bounds are generous (a loaded machine), the contrast is what matters.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.delivery.support import INSTANCE, MemoryProvider, add_devices, fresh_instance, providers, publish
from tests.storage.test_beams_instances import make_instance
from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.delivery import DeliveryConfig, DeliveryWorker
from tidings.providers.base import Delivered, Outcome, Retry
from tidings.storage import Storage

OTHER = "inst-2"


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    await fresh_instance(storage)
    await storage.instances.create(make_instance(OTHER))
    return storage


async def until_done(storage: Storage, instance_id: str, publish_id: str, timeout: float) -> float:
    """Seconds until the publish is done (fails after `timeout`)."""
    start = time.monotonic()
    async with asyncio.timeout(timeout):
        while True:
            status = await storage.delivery.status(instance_id, publish_id)
            if status is not None and status.state == "done":
                return time.monotonic() - start
            await asyncio.sleep(0.05)


class Running(list[DeliveryWorker]):
    """Workers started with `append`, stopped at the end of the test."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[asyncio.Task[None]] = []

    def append(self, worker: DeliveryWorker) -> None:
        super().append(worker)
        self.tasks.append(asyncio.create_task(worker.run()))


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    workers = Running()
    yield workers
    for worker in workers:
        worker.stop()
    if workers.tasks:  # as WorkerPool.stop does: a grace period, then cancel (a stalled send never ends)
        _, pending = await asyncio.wait(workers.tasks, timeout=1)
        for task in pending:
            task.cancel()
        await asyncio.gather(*workers.tasks, return_exceptions=True)


async def test_a_device_that_fails_forever_does_not_hold_other_publishes(
    beams: Storage, running: Running
) -> None:
    await add_devices(beams, ["web-bad"], interests=lambda d: ["news"])
    await add_devices(beams, ["web-ok"], interests=lambda d: ["sport"], instance_id=OTHER)
    fake = providers(lambda device, attempt: Retry("500", status=500) if device.id == "web-bad" else Delivered())
    await publish(beams, "pub-bad", "interests", ["news"])
    running.append(DeliveryWorker(beams, fake, DeliveryConfig(retry_deadline=300, poll_interval=0.05)))
    async with asyncio.timeout(30):
        while fake[Platform.WEB].sent.count(("pub-bad", "web-bad")) < 2:  # retrying: the 500s go on
            await asyncio.sleep(0.05)

    await publish(beams, "pub-ok", "interests", ["sport"], instance_id=OTHER)

    # Delivered while the failing device is still within its 300 s of retries (the old worker waited them out).
    await until_done(beams, OTHER, "pub-ok", timeout=30)
    status = await beams.delivery.status(INSTANCE, "pub-bad")
    assert status is not None and status.state == "running" and status.pending == 1


class Stalling(MemoryProvider):
    """Devices in `stuck` never answer (as a gateway that trickles, without a deadline)."""

    def __init__(self, stuck: set[str]) -> None:
        super().__init__(Platform.WEB)
        self.stuck = stuck

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        if device.id in self.stuck:
            await asyncio.sleep(3600)
        return await super().send(instance, device, publish)


async def test_a_stalled_send_holds_one_slot_not_the_worker(beams: Storage, running: Running) -> None:
    await add_devices(beams, ["web-stuck"], interests=lambda d: ["news"])
    await add_devices(beams, [f"web-{n:02d}" for n in range(30)], interests=lambda d: ["sport"], instance_id=OTHER)
    stalling = Stalling({"web-stuck"})
    await publish(beams, "pub-stuck", "interests", ["news"])
    running.append(DeliveryWorker(beams, {Platform.WEB: stalling}, DeliveryConfig(concurrency=10, poll_interval=0.05)))
    await asyncio.sleep(0.3)
    await publish(beams, "pub-later", "interests", ["sport"], instance_id=OTHER)

    await until_done(beams, OTHER, "pub-later", timeout=30)
    assert len(stalling.sent) == 30


async def test_a_small_publish_is_not_starved_by_a_huge_one_of_another_instance(
    beams: Storage, running: Running
) -> None:
    big = [f"web-{n:05d}" for n in range(3000)]
    await add_devices(beams, big, interests=lambda d: ["news"])
    await add_devices(beams, [f"web-s{n}" for n in range(10)], interests=lambda d: ["sport"], instance_id=OTHER)
    fake = providers(delay=0.01)
    await publish(beams, "pub-big", "interests", ["news"])
    running.append(DeliveryWorker(beams, fake, DeliveryConfig(concurrency=50, poll_interval=0.05)))
    async with asyncio.timeout(30):
        while len(fake[Platform.WEB].sent) < 200:
            await asyncio.sleep(0.02)

    await publish(beams, "pub-small", "interests", ["sport"], instance_id=OTHER)
    await until_done(beams, OTHER, "pub-small", timeout=30)

    big_sent = sum(1 for publish_id, _ in fake[Platform.WEB].sent if publish_id == "pub-big")
    assert big_sent < len(big) * 0.8, "the small publish waited for most of the big one"

"""A real `tidings worker` killed mid-publish loses nothing: the next one finishes the job.

The honest setup: real worker processes, the real Web Push provider (encryption, VAPID), and the Web Push
emulator playing the browsers' push service, slowed down so that a publish to 1200 devices takes a
second or more and the kill lands mid-publish. Every device must get the notification at least once, and
a crash may resend at most what the worker held: its claimed, unrecorded rows (`delivery_concurrency` plus one
batch at most).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import func, select

from tests.delivery.support import add_devices, publish
from tests.storage.postgres import temporary_database
from tests.support.emulators.webpush import WebPushEmulator, token_for
from tidings.beams.instances import new_instance
from tidings.delivery import DeliveryConfig
from tidings.storage import Storage, open_storage
from tidings.storage.schema import beams_deliveries

pytestmark = pytest.mark.slow  # worker processes, killed and stopped with signals

DEVICES = 1200
STARTED = 300  # deliveries made before the first worker is killed or stopped: mid-publish
CONCURRENCY = 20  # per worker
HELD = CONCURRENCY + DeliveryConfig().batch_size  # the most rows one worker holds unrecorded


class SlowPushService(WebPushEmulator):
    """The emulator, taking `delay` seconds per push as a distant push service would."""

    delay = 0.02

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(self.delay)
        return await super()._handle(request)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tidings.db'}"
        return
    with temporary_database("tidings_crash") as url:
        yield url


@pytest.fixture
async def push() -> AsyncIterator[SlowPushService]:
    async with SlowPushService() as service:
        yield service


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    storage = await open_storage(database_url)
    await storage.migrate()
    yield storage
    await storage.close()


async def prepare(storage: Storage, push: SlowPushService) -> str:
    """An instance, DEVICES browsers subscribed to "news" on the push service, and a publish to them."""
    instance = await storage.instances.create(new_instance(name="crash"))
    tokens = {}
    for n in range(DEVICES):
        subscription = push.new_subscription(application_server_key=instance.vapid_public_key)
        tokens[f"web-{n:05d}"] = token_for(subscription)
    await add_devices(storage, tokens, interests=lambda d: ["news"], token=tokens.__getitem__,
                      instance_id=instance.id)
    web_only = {"web": {"notification": {"title": "Hello", "body": "everyone"}}}
    await publish(storage, "pubid-crash", "interests", ["news"], web_only, instance_id=instance.id)
    return instance.id


def start_worker(database_url: str, log: Path, lease: float = 30) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env.update(
        TIDINGS_DATABASE_URL=database_url,
        TIDINGS_DELIVERY_CONCURRENCY=str(CONCURRENCY),
        TIDINGS_DELIVERY_LEASE=str(lease),
        TIDINGS_LOG_LEVEL="warning",  # info logs every gateway request (httpx)
        TIDINGS_PUSH_ALLOW_PRIVATE_NETWORKS="true",  # the push service is on 127.0.0.1
    )
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "tidings", "worker"], stdout=out, stderr=subprocess.STDOUT,
                                env=env)


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; worker log:\n{log.read_text(errors='replace')}")
        await asyncio.sleep(0.05)


async def exit_code(proc: subprocess.Popen[bytes], timeout: float = 20) -> int:
    """Wait for the process without blocking the loop: the push service runs on it and must keep answering."""
    return await asyncio.to_thread(proc.wait, timeout)


def delivered(push: SlowPushService) -> Counter[str]:
    """Pushes accepted, per subscription, for our publish (decrypted: the payload names it)."""
    return Counter(
        got.subscription_id
        for got in push.received
        if got.status == 201 and got.message["data"]["pusher"]["publishId"] == "pubid-crash"
    )


async def test_a_worker_killed_mid_publish_loses_nothing(
    storage: Storage, push: SlowPushService, database_url: str, tmp_path: Path
) -> None:
    instance_id = await prepare(storage, push)
    log = tmp_path / "workers.log"

    first = start_worker(database_url, log, lease=2)  # the next worker takes over 2 s after the kill
    try:
        await wait_until(lambda: len(push.received) >= STARTED, 60, "the first deliveries", log)
        first.send_signal(signal.SIGKILL)
        await exit_code(first)
    finally:
        first.kill()
    at_kill = len(push.received)
    assert at_kill < DEVICES, "the worker finished before it was killed: slow the push service down"

    second = start_worker(database_url, log)  # its own claims: the default lease, none runs out under load
    try:
        async def done() -> bool:
            status = await storage.delivery.status(instance_id, "pubid-crash")
            return status is not None and status.state == "done"

        deadline = time.monotonic() + 90
        while not await done():
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            assert second.poll() is None, log.read_text(errors="replace")
            await asyncio.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        assert await exit_code(second) == 0

    counts = delivered(push)
    assert len(counts) == DEVICES  # every device got it
    duplicates = sum(counts.values()) - DEVICES
    # At most the rows the dead worker held (claimed, not recorded): its sends in flight plus one batch.
    assert duplicates <= HELD, f"{duplicates} duplicates after a kill at {at_kill}: more than it held"
    assert all(got.status == 201 for got in push.received)
    status = await storage.delivery.status(instance_id, "pubid-crash")
    assert status is not None and status.devices == {"sent": DEVICES, "failed": 0, "removed": 0, "skipped": 0}


async def test_a_worker_stopped_with_sigterm_hands_over_without_duplicates(
    storage: Storage, push: SlowPushService, database_url: str, tmp_path: Path
) -> None:
    instance_id = await prepare(storage, push)
    log = tmp_path / "workers.log"

    # The default lease (30 s): a clean stop gives its rows back at once, and no lease can run out under a worker
    # that a loaded machine slowed down (it would then claim rows it still sends, and send them twice).
    first = start_worker(database_url, log)
    try:
        await wait_until(lambda: len(push.received) >= STARTED, 60, "the first deliveries", log)
        first.send_signal(signal.SIGTERM)
        assert await exit_code(first) == 0
    finally:
        first.kill()
    status = await storage.delivery.status(instance_id, "pubid-crash")
    assert status is not None and status.state == "running" and 0 < sum(status.devices.values()) < DEVICES
    async with storage.engine.connect() as conn:  # given back at once, no lease to wait out
        held = select(func.count()).select_from(beams_deliveries).where(beams_deliveries.c.lease_owner.is_not(None))
        assert await conn.scalar(held) == 0

    second = start_worker(database_url, log)
    try:
        await wait_until(lambda: len(push.received) >= DEVICES, 60, "every delivery", log)
        await asyncio.sleep(0.5)  # anything extra would arrive now
    finally:
        second.send_signal(signal.SIGTERM)
        assert await exit_code(second) == 0

    counts = delivered(push)
    twice = sorted(n for n, c in counts.items() if c > 1)
    # A clean stop resends nothing.
    assert len(counts) == DEVICES and not twice, (
        f"{len(counts)} devices reached, {len(twice)} twice\n{log.read_text(errors='replace')[-4000:]}")
    status = await storage.delivery.status(instance_id, "pubid-crash")
    assert status is not None and status.state == "done" and status.devices["sent"] == DEVICES

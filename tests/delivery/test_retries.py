"""429 and 5xx are retried with exponential backoff and full jitter, honouring Retry-After, until a deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.delivery.support import INSTANCE, FakeTime, add_devices, fresh_instance, providers, publish, requests
from tidings.beams.models import Device
from tidings.delivery import DeliveryConfig, DeliveryWorker, backoff
from tidings.providers.base import Delivered, Outcome, Retry
from tidings.storage import Storage
from tidings.storage.schema import beams_deliveries


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    return await fresh_instance(storage)


def test_backoff_doubles_from_one_second_to_a_minute_with_full_jitter() -> None:
    assert [backoff(n, None, 0.999999) for n in range(1, 9)] == pytest.approx([1, 2, 4, 8, 16, 32, 60, 60], rel=1e-3)
    assert backoff(5, None, 0.0) == 0.0
    assert backoff(5, None, 0.5) == 8.0
    assert backoff(1000, None, 0.5) == 30.0  # capped, however many attempts


def test_backoff_is_never_shorter_than_retry_after() -> None:
    assert backoff(1, 120.0, 0.5) == 120.0
    assert backoff(8, 5.0, 0.5) == 30.0  # the jittered wait is longer: keep it


async def recorded(storage: Storage) -> dict[str, tuple[str, int | None, str | None, int]]:
    async with storage.engine.connect() as conn:
        rows = (await conn.execute(select(beams_deliveries))).all()
    return {r.device_id: (r.outcome, r.status_code, r.reason, r.attempts) for r in rows}


async def test_retry_after_is_honoured_until_the_gateway_accepts(beams: Storage) -> None:
    def script(device: Device, attempt: int) -> Outcome:
        return Retry("429 Too Many Requests", after=10, status=429) if attempt < 3 else Delivered(200)

    await add_devices(beams, ["apns-1"], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])
    time = FakeTime()

    await DeliveryWorker(beams, providers(script), clock=time, sleep=time.sleep, rand=lambda: 0.5).drain()

    assert time.sleeps == [10, 10]  # jitter alone would have waited 0.5 then 1 second
    assert await recorded(beams) == {"apns-1": ("sent", 200, None, 3)}


async def test_without_retry_after_the_waits_grow_exponentially(beams: Storage) -> None:
    def script(device: Device, attempt: int) -> Outcome:
        return Retry("503", status=503) if attempt <= 7 else Delivered()

    await add_devices(beams, ["fcm-1"], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])
    time = FakeTime()

    await DeliveryWorker(beams, providers(script), clock=time, sleep=time.sleep, rand=lambda: 0.5).drain()

    assert time.sleeps == [0.5, 1, 2, 4, 8, 16, 30]
    assert (await recorded(beams))["fcm-1"][0] == "sent"


async def test_a_device_still_refused_at_the_deadline_is_failed(beams: Storage) -> None:
    await add_devices(beams, ["web-1", "web-2"], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])
    fake = providers(lambda device, attempt: Retry("502 Bad Gateway", status=502) if device.id == "web-1"
                     else Delivered())
    time = FakeTime()
    start = time.now
    config = DeliveryConfig(retry_deadline=100)

    await DeliveryWorker(beams, fake, config, clock=time, sleep=time.sleep, rand=lambda: 0.999).drain()

    outcome, status, reason, attempts = (await recorded(beams))["web-1"]
    assert (outcome, status) == ("failed", 502)
    assert reason == f"gave up after {attempts} attempts (retry deadline): 502 Bad Gateway"
    assert time.now - start <= timedelta(seconds=100)  # never waited past the deadline
    assert attempts == len(time.sleeps) + 1 == 7  # ~1+2+4+8+16+32 = 63 s of waits; a 60 s one would pass 100
    assert requests(fake)[("pub-1", "web-2")] == 1


async def test_a_retry_after_beyond_the_deadline_fails_at_once(beams: Storage) -> None:
    await add_devices(beams, ["web-1"], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])
    time = FakeTime()

    await DeliveryWorker(
        beams, providers(lambda d, a: Retry("429", after=3600, status=429)), DeliveryConfig(retry_deadline=300),
        clock=time, sleep=time.sleep,
    ).drain()

    assert time.sleeps == []
    assert (await recorded(beams))["web-1"][:2] == ("failed", 429)


async def test_the_deadline_counts_from_the_publishs_first_claim_not_the_takeover(beams: Storage) -> None:
    await add_devices(beams, ["web-1"], interests=lambda d: ["news"])
    await publish(beams, "pub-1", "interests", ["news"])
    time = FakeTime()
    # A first worker started it 250 s ago, claimed the device and died without recording anything.
    then = time.now - timedelta(seconds=250)
    assert await beams.delivery.expand("pub-1", 500, then) is not None
    assert len(await beams.delivery.claim("pub-1", "dead-worker", 10, 30, then)) == 1

    await DeliveryWorker(
        beams, providers(lambda d, a: Retry("503", status=503)), DeliveryConfig(retry_deadline=300),
        clock=time, sleep=time.sleep, rand=lambda: 0.999,
    ).drain()

    assert sum(time.sleeps) <= 50
    status = await beams.delivery.status(INSTANCE, "pub-1")
    assert status is not None and status.state == "done" and status.devices["failed"] == 1

"""The DeliveryStore contract (claims, leases, recorded results), run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from tests.storage.test_beams_devices import INSTANCE, OTHER, make_device
from tests.storage.test_beams_instances import clear_beams, make_instance
from tests.storage.test_beams_publishes import make_publish
from tidings.beams.models import Platform
from tidings.storage import DeliveryResult, Storage, open_storage
from tidings.storage.schema import beams_publishes

T0 = datetime(2030, 1, 1, tzinfo=UTC)  # after every FakeClock reading: publishes are all in the past


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sent(device_id: str, attempts: int = 1) -> DeliveryResult:
    return DeliveryResult(device_id, Platform.WEB, "sent", status_code=201, attempts=attempts)


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    """Two instances and three publishes of the first, created in the order pub-a, pub-b, pub-c."""
    await clear_beams(storage)
    await storage.instances.create(make_instance(INSTANCE))
    await storage.instances.create(make_instance(OTHER))
    for publish_id in ("pub-b", "pub-a", "pub-c"):  # ids out of creation order: the queue follows created_at
        await storage.publishes.create(make_publish(publish_id, INSTANCE))
    return storage


async def test_claims_take_the_oldest_queued_publish_until_none_is_left(beams: Storage) -> None:
    claimed = [await beams.delivery.claim("w1", 30, now=at(0)) for _ in range(4)]

    assert [job.publish.id if job else None for job in claimed] == ["pub-b", "pub-a", "pub-c", None]
    first = claimed[0]
    assert first is not None
    assert first.cursor is None and first.started_at == at(0) and first.lease_until == at(30)
    assert first.publish.targets == ("news",)
    status = await beams.delivery.status(INSTANCE, "pub-b")
    assert status is not None and status.state == "running" and status.started_at == at(0)


async def test_a_live_lease_is_exclusive_and_an_expired_one_is_taken_over(beams: Storage) -> None:
    await beams.delivery.finish("x", "nobody")  # a no-op on an unknown publish
    for publish_id in ("pub-a", "pub-c"):  # leave pub-b alone in the queue
        await _finish_now(beams, publish_id)
    job = await beams.delivery.claim("w1", 30, now=at(0))
    assert job is not None and await beams.delivery.record_page(job.publish.id, "w1", [sent("web-1")], "web-1")

    assert await beams.delivery.claim("w2", 30, now=at(29)) is None
    taken = await beams.delivery.claim("w2", 30, now=at(31))

    assert taken is not None and taken.publish.id == job.publish.id
    # The takeover resumes where w1 got to, and retry deadlines still count from w1's start.
    assert taken.cursor == "web-1" and taken.started_at == at(0) and taken.lease_until == at(61)
    assert not await beams.delivery.renew(job.publish.id, "w1", at(100))
    assert not await beams.delivery.record_page(job.publish.id, "w1", [sent("web-2")], "web-2")
    assert not await beams.delivery.finish(job.publish.id, "w1")
    assert await beams.delivery.renew(job.publish.id, "w2", at(100))
    assert await beams.delivery.claim("w3", 30, now=at(90)) is None  # renewed to 100


async def test_record_page_advances_the_cursor_and_keeps_the_first_result_of_a_device(beams: Storage) -> None:
    job = await beams.delivery.claim("w1", 30, now=at(0))
    assert job is not None
    pid = job.publish.id

    assert await beams.delivery.record_page(pid, "w1", [sent("web-1"), sent("web-2", attempts=3)], None)
    assert await beams.delivery.done_among(pid, ["web-0", "web-1", "web-2", "web-3"]) == {"web-1", "web-2"}
    failed = DeliveryResult("web-2", Platform.WEB, "failed", status_code=400, reason="bad")
    assert await beams.delivery.record_page(pid, "w1", [failed, sent("web-3")], "web-3")

    status = await beams.delivery.status(INSTANCE, pid)
    assert status is not None
    assert status.cursor == "web-3"
    assert status.devices == {"sent": 3, "failed": 0, "removed": 0, "skipped": 0}
    assert await beams.delivery.done_among(pid, []) == set()
    assert await beams.delivery.done_among("pub-other", ["web-1"]) == set()


async def test_a_removed_result_deletes_the_device_only_if_it_still_has_that_token(beams: Storage) -> None:
    await beams.devices.create(make_device("web-dead"))
    await beams.devices.create(make_device("web-refreshed"))
    await beams.devices.set_token(INSTANCE, "web-refreshed", "a-new-token")
    job = await beams.delivery.claim("w1", 30, now=at(0))
    assert job is not None

    removed = [
        DeliveryResult(device_id, Platform.WEB, "removed", 410, "gone", token=f"token-of-{device_id}")
        for device_id in ("web-dead", "web-refreshed")
    ]
    assert await beams.delivery.record_page(job.publish.id, "w1", removed, "web-refreshed")

    assert await beams.devices.get(INSTANCE, "web-dead") is None
    assert await beams.devices.get(INSTANCE, "web-refreshed") is not None
    status = await beams.delivery.status(INSTANCE, job.publish.id)
    assert status is not None and status.devices["removed"] == 2


async def test_a_refused_record_changes_nothing(beams: Storage) -> None:
    await beams.devices.create(make_device("web-dead"))
    job = await beams.delivery.claim("w1", 1, now=at(0))
    assert job is not None and await beams.delivery.claim("w2", 30, now=at(5)) is not None

    dead = DeliveryResult("web-dead", Platform.WEB, "removed", 410, token="token-of-web-dead")
    assert not await beams.delivery.record_page(job.publish.id, "w1", [dead, sent("web-1")], "web-1")

    assert await beams.devices.get(INSTANCE, "web-dead") is not None
    status = await beams.delivery.status(INSTANCE, job.publish.id)
    assert status is not None and status.cursor is None and sum(status.devices.values()) == 0


async def test_finish_ends_the_publish_and_release_puts_it_back_with_its_progress(beams: Storage) -> None:
    first = await beams.delivery.claim("w1", 30, now=at(0))
    second = await beams.delivery.claim("w1", 30, now=at(0))
    assert first is not None and second is not None
    assert await beams.delivery.record_page(second.publish.id, "w1", [sent("web-1")], "web-1")

    assert await beams.delivery.finish(first.publish.id, "w1")
    assert await beams.delivery.release(second.publish.id, "w1")
    assert not await beams.delivery.finish(second.publish.id, "w1")  # released: no longer ours

    again = await beams.delivery.claim("w2", 30, now=at(1))  # released, so claimable before pub-c
    assert again is not None and again.publish.id == second.publish.id
    assert again.cursor == "web-1" and again.started_at == at(0)
    done = await beams.delivery.status(INSTANCE, first.publish.id)
    assert done is not None and done.state == "done" and done.finished_at is not None
    later = [await beams.delivery.claim("w3", 30, now=at(1000)) for _ in range(3)]
    # pub-c was queued; pub-a's lease (w2) has expired; the finished pub-b never comes back.
    assert [job.publish.id if job else None for job in later] == [second.publish.id, "pub-c", None]


async def test_status_is_scoped_to_the_instance(beams: Storage) -> None:
    status = await beams.delivery.status(INSTANCE, "pub-a")

    assert status is not None and status.state == "queued" and status.cursor is None
    assert status.started_at is None and status.finished_at is None
    assert status.publish.kind == "interests"
    assert await beams.delivery.status(OTHER, "pub-a") is None
    assert await beams.delivery.status(INSTANCE, "pub-zzz") is None


async def test_concurrent_claimers_never_get_the_same_publish(beams: Storage) -> None:
    for n in range(17):
        await beams.publishes.create(make_publish(f"pub-{n:02d}", INSTANCE))
    # A second engine as well: claimers in two processes, each with its own connection pool.
    other = await open_storage(beams.url.render_as_string(hide_password=False))
    try:
        stores = [beams.delivery, other.delivery]
        jobs = await asyncio.gather(
            *(stores[n % 2].claim(f"w{n}", 30, now=at(0)) for n in range(40))
        )
    finally:
        await other.close()

    claimed = Counter(job.publish.id for job in jobs if job is not None)
    assert len(claimed) == 20 and set(claimed.values()) == {1}
    assert jobs.count(None) == 20


async def test_concurrent_takeovers_of_one_expired_lease_have_one_winner(beams: Storage) -> None:
    for publish_id in ("pub-a", "pub-c"):
        await _finish_now(beams, publish_id)
    assert await beams.delivery.claim("dead", 5, now=at(0)) is not None

    jobs = await asyncio.gather(*(beams.delivery.claim(f"w{n}", 30, now=at(10)) for n in range(10)))

    assert len([job for job in jobs if job is not None]) == 1


async def _finish_now(storage: Storage, publish_id: str) -> None:
    """Take one given publish out of the queue, without claiming (and so starting) the others."""
    async with storage.engine.begin() as conn:
        await conn.execute(update(beams_publishes).where(beams_publishes.c.id == publish_id).values(status="done"))

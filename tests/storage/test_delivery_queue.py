"""The DeliveryStore contract (expansion, claims, leases, results, reschedules), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.delivery.support import add_devices
from tests.storage.test_beams_devices import INSTANCE, OTHER
from tests.storage.test_beams_instances import clear_beams, make_instance
from tests.storage.test_beams_publishes import make_publish
from tidings.beams.models import Platform
from tidings.storage import DeliveryResult, Reschedule, Storage, open_storage
from tidings.storage.schema import beams_deliveries

T0 = datetime(2030, 1, 1, tzinfo=UTC)  # after every FakeClock reading: publishes are all in the past


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sent(device_id: str, attempts: int = 1) -> DeliveryResult:
    return DeliveryResult(device_id, Platform.WEB, "sent", status_code=201, attempts=attempts)


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    """Two instances, five web devices on "news" in the first, publishes pub-b, pub-a, pub-c (in that order)."""
    await clear_beams(storage)
    await storage.instances.create(make_instance(INSTANCE))
    await storage.instances.create(make_instance(OTHER))
    await add_devices(storage, [f"web-{n}" for n in range(5)], interests=lambda d: ["news"], instance_id=INSTANCE)
    for publish_id in ("pub-b", "pub-a", "pub-c"):  # ids out of creation order: the schedule follows created_at
        await storage.publishes.create(make_publish(publish_id, INSTANCE))
    return storage


async def rows(storage: Storage, publish_id: str) -> dict[str, tuple[str, int, str | None]]:
    query = select(beams_deliveries).where(beams_deliveries.c.publish_id == publish_id)
    async with storage.engine.connect() as conn:
        found = (await conn.execute(query)).all()
    return {r.device_id: (r.outcome, r.attempts, r.lease_owner) for r in found}


async def test_active_lists_unfinished_publishes_oldest_first(beams: Storage) -> None:
    active = await beams.delivery.active(at(0))

    assert [a.id for a in active] == ["pub-b", "pub-a", "pub-c"]
    assert not any(a.expanded for a in active) and active[0].started_at is None


async def test_expansion_writes_one_pending_row_per_device_page_by_page(beams: Storage) -> None:
    first = await beams.delivery.expand("pub-a", 3, at(0))
    second = await beams.delivery.expand("pub-a", 3, at(1))

    assert first is not None and (first.added, first.complete, first.first) == (3, False, True)
    assert second is not None and (second.added, second.complete, second.first) == (2, True, False)
    assert await beams.delivery.expand("pub-a", 3, at(2)) is None  # expanded: nothing more to do
    assert await rows(beams, "pub-a") == {f"web-{n}": ("pending", 0, None) for n in range(5)}
    status = await beams.delivery.status(INSTANCE, "pub-a")
    assert status is not None and status.state == "running" and status.started_at == at(0)
    assert status.pending == 5 and sum(status.devices.values()) == 0


async def test_claims_lease_due_rows_once_until_the_lease_runs_out(beams: Storage) -> None:
    await beams.delivery.expand("pub-a", 10, at(0))

    mine = await beams.delivery.claim("pub-a", "w1", 3, 30, at(0))
    rest = await beams.delivery.claim("pub-a", "w2", 10, 30, at(1))
    assert len(mine) == 3 and len(rest) == 2
    assert {c.device_id for c in mine} | {c.device_id for c in rest} == {f"web-{n}" for n in range(5)}
    assert all(c.device is not None and c.device.token == f"token-of-{c.device_id}" for c in mine)
    assert await beams.delivery.claim("pub-a", "w3", 10, 30, at(29)) == []

    taken = await beams.delivery.claim("pub-a", "w3", 10, 30, at(32))  # both leases ran out
    assert len(taken) == 5
    # The old holders' writes are refused row by row: w3 holds them now.
    assert await beams.delivery.record("pub-a", "w1", [sent(mine[0].device_id)], at(33)) == 0
    assert await beams.delivery.renew("pub-a", "w1", [c.device_id for c in mine], at(100)) == 0
    assert await beams.delivery.renew("pub-a", "w3", [c.device_id for c in taken], at(100)) == 5
    assert await beams.delivery.claim("pub-a", "w4", 10, 30, at(90)) == []  # renewed to 100


async def test_results_are_final_and_reschedules_come_back_when_due(beams: Storage) -> None:
    await beams.delivery.expand("pub-a", 10, at(0))
    claimed = await beams.delivery.claim("pub-a", "w1", 10, 30, at(0))
    ids = sorted(c.device_id for c in claimed)

    later = Reschedule(ids[0], at(60), attempts=1, status_code=503, reason="503")
    assert await beams.delivery.record("pub-a", "w1", [later, *(sent(d) for d in ids[1:])], at(1)) == 4

    assert await beams.delivery.next_due() == at(60)
    assert [a.id for a in await beams.delivery.active(at(30))] == ["pub-b", "pub-c"]  # nothing of pub-a due
    assert await beams.delivery.claim("pub-a", "w1", 10, 30, at(59)) == []
    again = await beams.delivery.claim("pub-a", "w2", 10, 30, at(60))
    assert [(c.device_id, c.attempts) for c in again] == [(ids[0], 1)]
    assert not await beams.delivery.finish_if_complete("pub-a", at(61))  # one still pending
    assert await beams.delivery.record("pub-a", "w2", [sent(ids[0], attempts=2)], at(61)) == 1
    assert await beams.delivery.finish_if_complete("pub-a", at(62))
    assert not await beams.delivery.finish_if_complete("pub-a", at(63))  # once

    status = await beams.delivery.status(INSTANCE, "pub-a")
    assert status is not None and status.state == "done" and status.finished_at == at(62)
    assert status.devices == {"sent": 5, "failed": 0, "removed": 0, "skipped": 0} and status.pending == 0
    assert (await rows(beams, "pub-a"))[ids[0]] == ("sent", 2, None)


async def test_a_removed_result_deletes_the_device_only_if_it_still_has_that_token(beams: Storage) -> None:
    await beams.devices.set_token(INSTANCE, "web-1", "a-new-token")
    await beams.delivery.expand("pub-a", 10, at(0))
    await beams.delivery.claim("pub-a", "w1", 10, 30, at(0))

    removed = [
        DeliveryResult(device_id, Platform.WEB, "removed", 410, "gone", token=f"token-of-{device_id}")
        for device_id in ("web-0", "web-1")
    ]
    assert await beams.delivery.record("pub-a", "w1", removed, at(1)) == 2

    assert await beams.devices.get(INSTANCE, "web-0") is None
    assert await beams.devices.get(INSTANCE, "web-1") is not None  # re-registered meanwhile: kept
    status = await beams.delivery.status(INSTANCE, "pub-a")
    assert status is not None and status.devices["removed"] == 2


async def test_a_device_deleted_after_expansion_is_claimed_without_its_device(beams: Storage) -> None:
    await beams.delivery.expand("pub-a", 10, at(0))
    assert await beams.devices.delete(INSTANCE, "web-2")

    claimed = {c.device_id: c for c in await beams.delivery.claim("pub-a", "w1", 10, 30, at(0))}

    assert claimed["web-2"].device is None and claimed["web-2"].platform == Platform.WEB
    assert claimed["web-3"].device is not None


async def test_release_gives_rows_back_at_once(beams: Storage) -> None:
    await beams.delivery.expand("pub-a", 10, at(0))
    claimed = [c.device_id for c in await beams.delivery.claim("pub-a", "w1", 10, 3600, at(0))]

    assert await beams.delivery.release("pub-a", "w2", claimed) == 0  # not w2's to give
    assert await beams.delivery.release("pub-a", "w1", claimed) == 5
    assert len(await beams.delivery.claim("pub-a", "w2", 10, 30, at(1))) == 5


async def test_finish_drops_what_is_pending(beams: Storage) -> None:
    await beams.delivery.expand("pub-a", 10, at(0))

    assert await beams.delivery.finish("pub-a", at(1))

    status = await beams.delivery.status(INSTANCE, "pub-a")
    assert status is not None and status.state == "done" and status.pending == 0
    assert "pub-a" not in [a.id for a in await beams.delivery.active(at(2))]


async def test_status_is_scoped_to_the_instance(beams: Storage) -> None:
    status = await beams.delivery.status(INSTANCE, "pub-a")

    assert status is not None and status.state == "queued" and status.pending == 0
    assert status.started_at is None and status.finished_at is None
    assert status.publish.kind == "interests"
    assert await beams.delivery.status(OTHER, "pub-a") is None
    assert await beams.delivery.status(INSTANCE, "pub-zzz") is None


async def test_targeted_tells_which_devices_a_publish_reached(beams: Storage) -> None:
    await beams.delivery.expand("pub-a", 10, at(0))

    assert await beams.delivery.targeted("pub-a", "web-1")
    assert not await beams.delivery.targeted("pub-b", "web-1")
    assert not await beams.delivery.targeted("pub-a", "web-99")


async def test_concurrent_claimers_never_get_the_same_row(beams: Storage) -> None:
    await add_devices(beams, [f"web-x{n:03d}" for n in range(200)], interests=lambda d: ["news"], instance_id=INSTANCE)
    # A second engine as well: claimers in two processes, each with its own connection pool.
    other = await open_storage(beams.url.render_as_string(hide_password=False))
    try:
        stores = [beams.delivery, other.delivery]
        expansions = await asyncio.gather(*(stores[n % 2].expand("pub-a", 50, at(0)) for n in range(8)))
        claims = await asyncio.gather(*(stores[n % 2].claim("pub-a", f"w{n}", 15, 30, at(1)) for n in range(20)))
    finally:
        await other.close()

    assert sum(e.added for e in expansions if e is not None) == 205  # every page expanded once
    claimed = Counter(c.device_id for batch in claims for c in batch)
    assert len(claimed) == 205 and set(claimed.values()) == {1}

"""The push outbox's storage: newest first, per user, bounded per instance and expiring (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.storage.conftest import BACKENDS
from tests.storage.postgres import temporary_database
from tidings.storage import Storage, open_storage
from tidings.storage.outbox import OutboxEntry


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=BACKENDS)
async def store_and_clock(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Storage, Clock]]:
    clock = Clock()
    if request.param == "sqlite":
        storage = await open_storage(f"sqlite+aiosqlite:///{tmp_path / 'tidings.db'}", clock=clock)
        await storage.migrate()
        yield storage, clock
        await storage.close()
        return
    with temporary_database("tidings_outbox") as url:
        storage = await open_storage(url, clock=clock)
        await storage.migrate()
        yield storage, clock
        await storage.close()


def entry(instance_id: str, user_id: str | None, n: int) -> OutboxEntry:
    return OutboxEntry(instance_id, f"pubid-{n}", f"web-{n}", user_id, "web", {"notification": {"title": f"#{n}"}})


async def test_newest_first_per_user_and_after_an_id(store_and_clock: tuple[Storage, Clock]) -> None:
    storage, clock = store_and_clock
    inst, other = str(uuid.uuid4()), str(uuid.uuid4())
    ids = []
    for n in range(5):
        clock.now += timedelta(seconds=1)
        ids.append(await storage.outbox.keep(entry(inst, "alice" if n % 2 == 0 else "bob", n),
                                             max_per_instance=100, retention=3600))
    await storage.outbox.keep(entry(other, "alice", 99), max_per_instance=100, retention=3600)

    every = await storage.outbox.list(inst, retention=3600)
    assert [r.entry.publish_id for r in every] == ["pubid-4", "pubid-3", "pubid-2", "pubid-1", "pubid-0"]
    alice = await storage.outbox.list(inst, retention=3600, user_id="alice")
    assert [r.entry.request["notification"]["title"] for r in alice] == ["#4", "#2", "#0"]
    newer = await storage.outbox.list(inst, retention=3600, after_id=ids[2])
    assert [r.id for r in newer] == [ids[4], ids[3]]
    assert [r.entry.publish_id for r in await storage.outbox.list(inst, retention=3600, limit=2)] == [
        "pubid-4", "pubid-3"]


async def test_bounded_per_instance_the_oldest_go(store_and_clock: tuple[Storage, Clock]) -> None:
    storage, clock = store_and_clock
    inst, other = str(uuid.uuid4()), str(uuid.uuid4())
    await storage.outbox.keep(entry(other, None, 0), max_per_instance=3, retention=3600)
    for n in range(7):
        clock.now += timedelta(seconds=1)
        await storage.outbox.keep(entry(inst, None, n), max_per_instance=3, retention=3600)
    kept = await storage.outbox.list(inst, retention=3600, limit=100)
    assert [r.entry.publish_id for r in kept] == ["pubid-6", "pubid-5", "pubid-4"]
    assert len(await storage.outbox.list(other, retention=3600)) == 1  # another instance's rows stay


async def test_expired_rows_are_never_read_and_are_pruned_at_the_next_write(
    store_and_clock: tuple[Storage, Clock],
) -> None:
    storage, clock = store_and_clock
    inst = str(uuid.uuid4())
    await storage.outbox.keep(entry(inst, None, 0), max_per_instance=100, retention=60)
    clock.now += timedelta(seconds=61)
    assert await storage.outbox.list(inst, retention=60) == []
    await storage.outbox.keep(entry(inst, None, 1), max_per_instance=100, retention=60)
    # A longer retention on the read still finds only the new row: the old one was deleted by the write.
    assert [r.entry.publish_id for r in await storage.outbox.list(inst, retention=3600)] == ["pubid-1"]

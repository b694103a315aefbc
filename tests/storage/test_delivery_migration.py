"""Revisions 0003 (the delivery queue) and 0004 (per-device scheduling): apply on older databases with work
in progress, and revert.

The whole-schema comparison with `schema.py` (test_migrations.py) covers the new columns and table too.
"""

from __future__ import annotations

from sqlalchemy import text

from tests.delivery.support import add_devices
from tests.storage.test_beams_instances import make_instance
from tests.storage.test_beams_migrations import migrate_to, tables
from tests.storage.test_beams_publishes import make_publish
from tidings.storage import open_storage
from tidings.storage.apps import utcnow
from tidings.storage.migrate import current_revision, head_revision


async def test_0003_applies_on_a_0002_database_and_its_publishes_become_claimable(fresh_url: str) -> None:
    storage = await open_storage(fresh_url)
    try:
        await migrate_to(storage, "0002")
        await storage.instances.create(make_instance())
        # Written as 0002 knew publishes: without the queue columns.
        async with storage.engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO beams_publishes (id, instance_id, kind, targets, payload, created_at)"
                " VALUES ('pubid-old', 'inst-1', 'users', '[\"alice\"]', '{}', '2024-01-01 00:00:00')"
            )

        await storage.migrate()

        assert await current_revision(storage.engine) == head_revision()
        assert [a.id for a in await storage.delivery.active(utcnow())] == ["pubid-old"]
        expansion = await storage.delivery.expand("pubid-old", 500, utcnow())
        assert expansion is not None and expansion.complete and expansion.added == 0
    finally:
        await storage.close()


async def test_head_downgrades_to_0002_keeping_publishes_and_up_again(fresh_url: str) -> None:
    storage = await open_storage(fresh_url)
    try:
        await storage.migrate()
        await storage.instances.create(make_instance())
        await storage.publishes.create(make_publish())
        assert await storage.delivery.expand("pubid-1", 500, utcnow()) is not None

        await migrate_to(storage, "0002", down=True)
        assert await current_revision(storage.engine) == "0002"
        assert "beams_deliveries" not in await tables(storage)
        async with storage.engine.connect() as conn:  # (the stores query the head schema: plain SQL here)
            assert await conn.scalar(text("SELECT id FROM beams_publishes")) == "pubid-1"

        await storage.migrate()
        status = await storage.delivery.status("inst-1", "pubid-1")
        assert status is not None and status.state == "running" and status.started_at is None
    finally:
        await storage.close()


async def test_0004_resumes_a_publish_the_old_queue_left_running_from_its_cursor(fresh_url: str) -> None:
    storage = await open_storage(fresh_url)
    try:
        await migrate_to(storage, "0003")
        await storage.instances.create(make_instance())
        await add_devices(storage, ["web-1", "web-2", "web-3"], interests=lambda d: ["news"])
        # The old queue: a worker held pub-1 (page up to web-2 recorded, and web-3 mid-page) and died.
        async with storage.engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO beams_publishes (id, instance_id, kind, targets, payload, created_at, status,"
                " lease_owner, lease_until, cursor, started_at)"
                " VALUES ('pub-1', 'inst-1', 'interests', '[\"news\"]', '{}', '2024-01-01 00:00:00', 'running',"
                " 'dead', '2999-01-01 00:00:00', 'web-2', '2024-01-01 00:00:00')"
            )
            for device_id in ("web-1", "web-2", "web-3"):
                await conn.exec_driver_sql(
                    "INSERT INTO beams_deliveries (publish_id, device_id, platform, outcome, attempts, created_at)"
                    f" VALUES ('pub-1', '{device_id}', 'web', 'sent', 1, '2024-01-01 00:00:00')"
                )

        await storage.migrate()

        expansion = await storage.delivery.expand("pub-1", 500, utcnow())
        # Resumed after the cursor, the lease forgotten; web-3's result is kept, so nothing is pending.
        assert expansion is not None and expansion.complete and expansion.added == 0
        assert await storage.delivery.finish_if_complete("pub-1")
        status = await storage.delivery.status("inst-1", "pub-1")
        assert status is not None and status.devices["sent"] == 3
    finally:
        await storage.close()

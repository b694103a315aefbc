"""Revision 0003 (the delivery queue): applies on a 0002 database with publishes waiting, and reverts.

The whole-schema comparison with `schema.py` (test_migrations.py) covers the new columns and table too.
"""

from __future__ import annotations

from sqlalchemy import text

from tests.storage.test_beams_instances import make_instance
from tests.storage.test_beams_migrations import migrate_to, tables
from tests.storage.test_beams_publishes import make_publish
from tidings.beams.models import Platform
from tidings.storage import DeliveryResult, open_storage
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
        job = await storage.delivery.claim("w1", 30)
        assert job is not None and job.publish.id == "pubid-old" and job.cursor is None
        assert await storage.delivery.record_page("pubid-old", "w1", [DeliveryResult("web-1", Platform.WEB, "sent")])
    finally:
        await storage.close()


async def test_0003_downgrades_to_0002_keeping_publishes_and_up_again(fresh_url: str) -> None:
    storage = await open_storage(fresh_url)
    try:
        await storage.migrate()
        await storage.instances.create(make_instance())
        await storage.publishes.create(make_publish())
        assert await storage.delivery.claim("w1", 30) is not None

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

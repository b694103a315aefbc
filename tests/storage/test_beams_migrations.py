"""Revision 0002 (the Beams tables): applies on top of 0001 with data in place, and reverts.

The whole-schema comparison with `schema.py` (test_migrations.py) covers these tables too.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Connection, insert, inspect, text

from tests.storage.test_app_store import make_app
from tests.storage.test_beams_instances import make_instance
from tidings.storage import Storage, open_storage
from tidings.storage.apps import _to_row
from tidings.storage.engine import sqlite_file
from tidings.storage.migrate import alembic_config, current_revision, head_revision
from tidings.storage.schema import apps as apps_table

BEAMS_TABLES = {"beams_instances", "beams_devices", "beams_device_interests", "beams_publishes", "beams_reports"}


async def migrate_to(storage: Storage, revision: str, *, down: bool = False) -> None:
    path = sqlite_file(storage.url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)

    def run(conn: Connection) -> None:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)

    async with storage.engine.begin() as conn:
        await conn.run_sync(run)


async def create_app_at_0001(storage: Storage) -> None:
    """The app of make_app() written with the columns revision 0001 has (AppStore writes today's)."""
    row = {k: v for k, v in _to_row(make_app()).items() if k not in ("beams_instance", "user_mailbox")}
    now = datetime.now(UTC)
    async with storage.engine.begin() as conn:  # typed columns, only these: JSON is encoded as the store does
        await conn.execute(insert(apps_table).values(**row, created_at=now, updated_at=now))


async def app_ids(storage: Storage) -> list[str]:
    async with storage.engine.connect() as conn:
        return list((await conn.execute(text("SELECT id FROM apps"))).scalars())


async def tables(storage: Storage) -> set[str]:
    async with storage.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_0002_applies_on_a_0001_database_and_keeps_its_apps(fresh_url: str) -> None:
    storage = await open_storage(fresh_url)
    try:
        await migrate_to(storage, "0001")
        assert not BEAMS_TABLES & await tables(storage)
        await create_app_at_0001(storage)

        await storage.migrate()

        assert await current_revision(storage.engine) == head_revision()
        assert BEAMS_TABLES <= await tables(storage)
        assert await storage.apps.list() == [make_app()]
        assert await storage.instances.create(make_instance()) == await storage.instances.get("inst-1")
    finally:
        await storage.close()


async def test_0002_downgrades_to_0001_and_up_again(fresh_url: str) -> None:
    storage = await open_storage(fresh_url)
    try:
        await storage.migrate()
        await storage.apps.create(make_app())
        await storage.instances.create(make_instance())

        await migrate_to(storage, "0001", down=True)
        assert await current_revision(storage.engine) == "0001"
        assert not BEAMS_TABLES & await tables(storage)
        assert await app_ids(storage) == [make_app().id]

        await storage.migrate()
        assert await storage.instances.count() == 0
    finally:
        await storage.close()


@pytest.mark.postgres
async def test_sort_keys_use_byte_order_on_postgresql(pg_url: str) -> None:
    """Whatever the cluster's locale: keyset cursors and interest pages compare like Python strings."""
    storage = await open_storage(pg_url)
    try:
        await storage.migrate()
        async with storage.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT table_name, column_name, collation_name FROM information_schema.columns"
                    " WHERE table_name IN ('beams_devices', 'beams_device_interests')"
                    " AND column_name IN ('id', 'device_id', 'interest')"
                )
            )
            collations = {(table, column): collation for table, column, collation in rows}
    finally:
        await storage.close()
    assert collations == {
        ("beams_devices", "id"): "C",
        ("beams_device_interests", "device_id"): "C",
        ("beams_device_interests", "interest"): "C",
    }

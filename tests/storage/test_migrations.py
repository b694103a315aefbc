"""Migrations: run from code, idempotent, and the schema they build is the one the queries expect."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, select, table

from tests.storage.test_app_store import make_app
from tidings.errors import ConfigError
from tidings.storage import open_storage
from tidings.storage.migrate import VERSION_TABLE, current_revision, head_revision
from tidings.storage.schema import metadata


async def test_migrate_builds_the_schema_and_twice_is_a_no_op(fresh_url: str) -> None:
    storage = await open_storage(fresh_url)
    try:
        assert await storage.ping() is (storage.backend == "postgresql")  # SQLite: no directory yet

        await storage.migrate()
        assert await current_revision(storage.engine) == head_revision() is not None
        await storage.apps.create(make_app())

        await storage.migrate()
        assert await current_revision(storage.engine) == head_revision()
        assert await storage.apps.list() == [make_app()]
        async with storage.engine.connect() as conn:
            version_rows = await conn.scalar(select(func.count()).select_from(table(VERSION_TABLE)))
        assert version_rows == 1
    finally:
        await storage.close()


async def test_migrate_creates_the_sqlite_file_and_its_directories(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "tidings.db"
    storage = await open_storage(f"sqlite:///{db}")
    try:
        await storage.migrate()
    finally:
        await storage.close()
    assert db.is_file()


async def test_a_second_process_sees_the_migrated_schema(backend_url: str) -> None:
    for _ in range(2):  # each open is a new engine, as after a restart
        storage = await open_storage(backend_url)
        try:
            await storage.migrate()
            assert await storage.apps.count() >= 0
        finally:
            await storage.close()


def _schema_diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": VERSION_TABLE})
    return list(compare_metadata(context, metadata))


async def test_migrations_build_exactly_the_schema_the_queries_use(fresh_url: str) -> None:
    storage = await open_storage(fresh_url)
    try:
        await storage.migrate()
        async with storage.engine.connect() as conn:
            assert await conn.run_sync(_schema_diff) == []
    finally:
        await storage.close()


async def test_in_memory_sqlite_keeps_one_database_across_connections() -> None:
    storage = await open_storage("sqlite+aiosqlite://")
    try:
        await storage.migrate()
        await storage.apps.create(make_app())
        assert await storage.apps.count() == 1
    finally:
        await storage.close()


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("sqlite:///x.db", "sqlite"),
        ("postgresql://u@h/db", "postgresql"),
        ("postgres://u@h/db", "postgresql"),
        ("postgresql+asyncpg://u@h/db", "postgresql"),
    ],
)
async def test_plain_urls_get_the_async_driver(url: str, backend: str) -> None:
    storage = await open_storage(url)
    try:
        assert storage.backend == backend
        assert storage.url.drivername in ("sqlite+aiosqlite", "postgresql+asyncpg")
    finally:
        await storage.close()


@pytest.mark.parametrize("url", ["mysql://u:hunter2@h/db", "postgresql+psycopg2://u:hunter2@h/db", "not a url"])
async def test_unsupported_urls_are_config_errors_without_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        await open_storage(url)
    assert "hunter2" not in str(caught.value)

"""Run the Alembic migrations shipped in the package, from code, on an open async engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tidings.storage.engine import for_writes

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Our own name, so Tidings can share a PostgreSQL database with another Alembic-managed app.
VERSION_TABLE = "tidings_schema_version"
# Any constant: concurrent `serve` processes starting together take turns to migrate.
_PG_MIGRATION_LOCK = 0x7469_6469_6E67  # "tiding"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config built in code: no alembic.ini on disk at run time."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_table", VERSION_TABLE)
    # r0002_add_x.py: revision files must be importable module names (mypy checks them).
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    # env.py runs on this connection instead of creating an engine of its own.
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to head in one transaction. A no-op when already there."""
    async with for_writes(engine).begin() as conn:  # SQLite: two processes migrating at once take turns
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        await conn.run_sync(_upgrade)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def _current(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()

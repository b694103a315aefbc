"""Alembic environment, async-aware, for SQLite (aiosqlite) and PostgreSQL (asyncpg).

At run time `tidings.storage.migrate` hands us a live connection in `config.attributes`, already
inside a transaction. Without one (a developer running the alembic CLI against a Config pointing
here, e.g. for `revision --autogenerate`) we open an async engine on `sqlalchemy.url`, or on the
URL the Tidings settings resolve to.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from tidings.storage.engine import create_engine, parse_url
from tidings.storage.schema import metadata

config = context.config
VERSION_TABLE = config.get_main_option("version_table") or "tidings_schema_version"


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from tidings.config import load_settings

    return load_settings().resolved_database_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    engine = create_engine(parse_url(_url()))
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(
        url=parse_url(_url()),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    asyncio.run(_run_standalone())

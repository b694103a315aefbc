"""A throwaway PostgreSQL database for tests: real server, never mocked, never skipped."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import asyncpg  # type: ignore[import-untyped]
import pytest

HOST, PORT = "127.0.0.1", 5432
ADMIN_DSN = f"postgresql://postgres@{HOST}:{PORT}/postgres"


@contextmanager
def temporary_database(prefix: str = "tidings_test") -> Iterator[str]:
    """Create a database with a random name, yield its SQLAlchemy URL, drop it afterwards."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@{HOST}:{PORT}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(sql: str) -> None:
    # Own thread, own loop: fixtures may run while pytest-asyncio's loop is current.
    with ThreadPoolExecutor(1) as pool:
        error = pool.submit(asyncio.run, _execute(sql)).result()
    if error is not None:
        pytest.fail(f"PostgreSQL at {HOST}:{PORT} is not reachable: {error}", pytrace=False)


async def _execute(sql: str) -> str | None:
    try:
        conn = await asyncpg.connect(ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:  # TimeoutError is an OSError
        return f"{type(exc).__name__}: {exc}"
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
    return None

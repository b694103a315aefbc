"""Fixtures for the storage contract tests: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.storage.postgres import temporary_database
from tidings.storage import Storage, open_storage
from tidings.storage.schema import apps as apps_table

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class FakeClock:
    """Each reading is one second after the previous: creation order is unambiguous."""

    def __init__(self) -> None:
        self.now = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(autouse=True)
def _no_tidings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read TIDINGS_* from the environment; tests must not see the developer's."""
    for name in list(os.environ):
        if name.startswith("TIDINGS_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One fresh PostgreSQL database per test session (per xdist worker)."""
    with temporary_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL whose schema may already exist (PostgreSQL is shared by the session)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'tidings.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL that has never been migrated (SQLite: not even its directory exists)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'new' / 'dir' / 'tidings.db'}"
        return
    with temporary_database("tidings_fresh") as url:
        yield url


@pytest.fixture
async def storage(backend_url: str) -> AsyncIterator[Storage]:
    """Migrated storage with an empty apps table."""
    storage = await open_storage(backend_url, clock=FakeClock())
    await storage.migrate()
    async with storage.engine.begin() as conn:
        await conn.execute(apps_table.delete())
    yield storage
    await storage.close()

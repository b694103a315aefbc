"""The bench server's database: SQLite in the run's directory, or a fresh PostgreSQL database dropped at the end.

    db = await Database.create("postgres", data_dir)   # CREATE DATABASE tidings_bench_<random> on 127.0.0.1:5432
    db.env()                                  # TIDINGS_DATABASE_URL (or TIDINGS_DATA_DIR) for tidings processes
    await db.backend_pids()                   # PostgreSQL backends serving that database (their CPU is counted)
    await insert_devices(db.url, rows)        # thousands of devices at once, bypassing the device API
    await db.drop()

PostgreSQL runs on this machine (its backends are processes here, readable in /proc), shared with other users:
the bench counts only the backends connected to its own database.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from tidings.storage.engine import create_engine
from tidings.storage.schema import beams_device_interests, beams_devices

PG_HOST, PG_PORT = "127.0.0.1", 5432
ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"


class Database:
    def __init__(self, kind: str, data_dir: Path) -> None:
        if kind not in ("sqlite", "postgres"):
            raise ValueError(f"unknown database {kind!r}")
        self.kind = kind
        self.data_dir = data_dir
        self.name: str | None = None
        self._admin: asyncpg.Connection | None = None

    @classmethod
    async def create(cls, kind: str, data_dir: Path) -> Database:
        db = cls(kind, data_dir)
        if kind == "postgres":
            name = f"tidings_bench_{secrets.token_hex(6)}"
            await _execute(f'CREATE DATABASE "{name}"')
            db.name = name
        return db

    @property
    def url(self) -> str:
        if self.name is None:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'tidings.db').resolve()}"
        return f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{self.name}"

    def env(self) -> dict[str, str]:
        env = {"TIDINGS_DATA_DIR": str(self.data_dir)}
        if self.name is not None:
            env["TIDINGS_DATABASE_URL"] = self.url
        return env

    def describe(self) -> str:
        return "SQLite (a file in bench/.work)" if self.name is None else f"PostgreSQL ({PG_HOST}:{PG_PORT})"

    async def backend_pids(self) -> list[int]:
        """PostgreSQL backends connected to this database now (none for SQLite)."""
        if self.name is None:
            return []
        if self._admin is None:
            self._admin = await asyncpg.connect(ADMIN_DSN, timeout=5)
        rows = await self._admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", self.name)
        return [int(row["pid"]) for row in rows]

    async def drop(self) -> None:
        if self._admin is not None:
            await self._admin.close()
            self._admin = None
        if self.name is not None:
            await _execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.name = None


async def _execute(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def insert_devices(url: str, instance_id: str, devices: Sequence[tuple[str, str]], interest: str,
                         topic: str | None = None) -> None:
    """Insert (platform, token) devices of `instance_id`, each subscribed to `interest`, in bulk (the schema is
    the same at 54bcaad, the "before" commit). Device ids as the device API makes them ("web-<uuid4>")."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for platform, token in devices:
        rows.append({"id": f"{platform}-{uuid.uuid4()}", "instance_id": instance_id, "platform": platform,
                     "token": token, "user_id": None, "metadata": {},
                     "bundle_identifier": topic if platform == "apns" else None,
                     "created_at": now, "updated_at": now})
    links = [{"device_id": row["id"], "instance_id": instance_id, "interest": interest} for row in rows]
    engine = create_engine(make_url(url))
    try:
        async with engine.begin() as conn:
            for start in range(0, len(rows), 1000):
                await conn.execute(insert(beams_devices), rows[start : start + 1000])
                await conn.execute(insert(beams_device_interests), links[start : start + 1000])
    finally:
        await engine.dispose()

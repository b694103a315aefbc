"""Storage: one engine, the stores built on it, migrations and a readiness probe."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from tidings.storage import migrate as migrations
from tidings.storage.apps import AppStore, Clock, utcnow
from tidings.storage.delivery import DeliveryStore
from tidings.storage.devices import DeviceStore
from tidings.storage.engine import create_engine, parse_url, sqlite_file, translate_errors
from tidings.storage.gateway_tokens import GatewayTokenStore
from tidings.storage.instances import InstanceStore
from tidings.storage.outbox import OutboxStore
from tidings.storage.publishes import PublishStore


class Storage:
    """Everything Tidings keeps in its database, one attribute per store."""

    def __init__(self, engine: AsyncEngine, url: URL, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.url = url
        self.apps = AppStore(engine, clock=clock)
        self.instances = InstanceStore(engine, clock=clock)
        self.devices = DeviceStore(engine, clock=clock)
        self.publishes = PublishStore(engine, clock=clock)
        self.delivery = DeliveryStore(engine, clock=clock)
        self.gateway_tokens = GatewayTokenStore(engine)
        self.outbox = OutboxStore(engine, clock=clock)

    @property
    def backend(self) -> str:
        """"sqlite" or "postgresql"."""
        return self.engine.dialect.name

    async def migrate(self) -> None:
        """Create or upgrade the schema to the newest revision; safe to call on every start."""
        path = sqlite_file(self.url)
        if path is not None:
            # SQLite creates the file, but not the directory it goes in.
            path.parent.mkdir(parents=True, exist_ok=True)
        with translate_errors("migrating the database"):
            await migrations.upgrade(self.engine)

    async def ping(self, timeout: float = 5.0) -> bool:
        """True if the database answers `SELECT 1` within `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # /ready must answer "not ready", whatever the driver raised
            return False
        return True

    async def close(self) -> None:
        await self.engine.dispose()


async def open_storage(url: str, *, clock: Clock = utcnow) -> Storage:
    """Create the engine for `url` (no connection is made yet, nothing is migrated).

    Accepts sqlite:// and postgresql:// URLs with or without the async driver name; raises
    ConfigError for anything else.
    """
    parsed = parse_url(url)
    return Storage(create_engine(parsed), parsed, clock=clock)

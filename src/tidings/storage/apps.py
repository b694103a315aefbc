"""AppStore: the `apps` table, read and written as `App` models."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tidings.channels.apps import MAX_APP_ID_LENGTH, MAX_APP_KEY_LENGTH, App, AppLimits, Webhook
from tidings.errors import RecordNotFound, StorageError
from tidings.storage.engine import can_be_stored_key, for_writes, translate_errors
from tidings.storage.schema import apps as apps_table

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class AppStore:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._writer = for_writes(engine)  # begin() on it: the transactions that write
        self._clock = clock

    async def get(self, app_id: str) -> App | None:
        if not can_be_stored_key(app_id, MAX_APP_ID_LENGTH):  # the App model admits no such id
            return None
        return await self._one(apps_table.c.id == app_id, "reading app")

    async def get_by_key(self, key: str) -> App | None:
        if not can_be_stored_key(key, MAX_APP_KEY_LENGTH):  # the App model admits no such key
            return None
        return await self._one(apps_table.c.key == key, "reading app")

    async def list(self) -> builtins.list[App]:
        # created_at first so "the first app" (bootstrap, CLI) is stable; id breaks ties.
        query = select(apps_table).order_by(apps_table.c.created_at, apps_table.c.id)
        with translate_errors("listing apps"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [_from_row(row) for row in rows]

    async def count(self) -> int:
        with translate_errors("counting apps"):
            async with self._engine.connect() as conn:
                return int((await conn.scalar(select(func.count()).select_from(apps_table))) or 0)

    async def create(self, app: App) -> App:
        now = self._clock()
        with translate_errors("creating app"):
            try:
                async with self._writer.begin() as conn:
                    row = {**_to_row(app), "created_at": now, "updated_at": now}
                    await conn.execute(insert(apps_table).values(row))
            except IntegrityError as exc:
                raise await self._duplicate(app, exc) from exc
        return app

    async def upsert(self, app: App) -> App:
        """Insert `app`, or overwrite every field of the app with its id (created_at is kept).

        One atomic statement (INSERT ... ON CONFLICT): several nodes starting at once against one
        PostgreSQL all upsert the default app, and a read-then-insert would fail all but one.
        """
        now = self._clock()
        row = _to_row(app)
        dialect_insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        stmt = dialect_insert(apps_table).values(**row, created_at=now, updated_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[apps_table.c.id],
            set_={**{k: v for k, v in row.items() if k != "id"}, "updated_at": now},
        )
        with translate_errors("saving app"):
            try:
                async with self._writer.begin() as conn:
                    await conn.execute(stmt)
            except IntegrityError as exc:  # the key belongs to another app
                raise await self._duplicate(app, exc) from exc
        return app

    async def update(self, app_id: str, **changes: object) -> App:
        """Change some fields of an app; the result is validated as a whole through `App`.

        `limits` may be an `AppLimits` (replaces them) or a mapping (merged into the current ones).
        Raises RecordNotFound if there is no such app, pydantic's ValidationError (a ValueError) for bad
        values, ValueError for an attempt to change the id, StorageError if the key is taken.
        """
        if "id" in changes and changes["id"] != app_id:
            raise ValueError("an app's id cannot be changed")
        with translate_errors("updating app"):
            async with self._writer.begin() as conn:
                current = await self._select_one(conn, apps_table.c.id == app_id, for_update=True)
                if current is None:
                    raise RecordNotFound(f"no app with id {app_id}")
                app = _apply(current, changes)
                try:
                    await conn.execute(
                        update(apps_table)
                        .where(apps_table.c.id == app_id)
                        .values(**_to_row(app), updated_at=self._clock())
                    )
                except IntegrityError as exc:
                    raise await self._clash(app, exc) from exc
        return app

    async def get_by_instance(self, instance_id: str) -> App | None:
        """The app linked to this Beams instance (user-first delivery), if any."""
        if not can_be_stored_key(instance_id, MAX_APP_ID_LENGTH):
            return None
        return await self._one(apps_table.c.beams_instance == instance_id, "reading app")

    async def _one(self, where: Any, action: str) -> App | None:
        with translate_errors(action):
            async with self._engine.connect() as conn:
                return await self._select_one(conn, where)

    @staticmethod
    async def _select_one(conn: AsyncConnection, where: Any, *, for_update: bool = False) -> App | None:
        query = select(apps_table).where(where)
        if for_update:  # PostgreSQL row lock; SQLite ignores it (its write lock covers the file)
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        return _from_row(row) if row is not None else None

    async def _duplicate(self, app: App, cause: IntegrityError) -> StorageError:
        """Name the column that clashed, by looking: driver messages differ between backends."""
        if await self.get(app.id) is not None:
            return StorageError(f"an app with id {app.id} already exists")
        return await self._clash(app, cause)

    async def _clash(self, app: App, cause: IntegrityError) -> StorageError:
        """The unique column (other than the id) `app` shares with another app. After a failed statement the
        transaction is unusable on PostgreSQL, so the look is taken on connections of its own."""
        other = await self.get_by_key(app.key)
        if other is not None and other.id != app.id:
            return StorageError(f"an app with key {app.key} already exists")
        if app.beams_instance is not None:
            other = await self.get_by_instance(app.beams_instance)
            if other is not None and other.id != app.id:
                return StorageError(f"Beams instance {app.beams_instance} is already linked to app {other.id}")
        return StorageError(f"app {app.id} conflicts with an existing row: {cause.orig}")


def _apply(current: App, changes: Mapping[str, object]) -> App:
    values: dict[str, Any] = current.model_dump()
    values.update(changes)
    limits = changes.get("limits")
    if isinstance(limits, Mapping):
        values["limits"] = {**current.limits.model_dump(), **limits}
    return App.model_validate(values)


def _to_row(app: App) -> dict[str, Any]:
    return {
        "id": app.id,
        "key": app.key,
        "secret": app.secret,
        "name": app.name,
        "enabled": app.enabled,
        "enable_client_events": app.enable_client_events,
        "enable_user_authentication": app.enable_user_authentication,
        "enable_subscription_count": app.enable_subscription_count,
        "limits": app.limits.model_dump(),
        "webhooks": [w.model_dump() for w in app.webhooks],
        "webhook_batching": app.webhook_batching,
        "beams_instance": app.beams_instance,
        "user_mailbox": app.user_mailbox,
    }


def _from_row(row: Row[Any]) -> App:
    m = row._mapping
    return App(
        id=m["id"],
        key=m["key"],
        secret=m["secret"],
        name=m["name"],
        enabled=m["enabled"],
        enable_client_events=m["enable_client_events"],
        enable_user_authentication=m["enable_user_authentication"],
        enable_subscription_count=m["enable_subscription_count"],
        limits=AppLimits.model_validate(m["limits"]),
        webhooks=tuple(Webhook.model_validate(w) for w in m["webhooks"]),
        webhook_batching=m["webhook_batching"],
        beams_instance=m["beams_instance"],
        user_mailbox=m["user_mailbox"],
    )

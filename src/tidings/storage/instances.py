"""InstanceStore: the `beams_instances` table, read and written as `Instance` models."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tidings.beams.models import Instance
from tidings.errors import RecordNotFound, StorageError
from tidings.storage.apps import Clock, utcnow
from tidings.storage.engine import can_be_stored_key, for_writes, translate_errors
from tidings.storage.schema import beams_instances as instances_table

_VAPID_COLUMNS = ("vapid_private_key", "vapid_public_key")
# Instance ids are UUIDs (36 characters; the CLI and the config check that), so no stored id comes near the
# bound apps use; a lookup beyond it is "not found" without a query.
MAX_INSTANCE_ID_LENGTH = 255


class InstanceStore:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._writer = for_writes(engine)  # begin() on it: the transactions that write
        self._clock = clock

    async def get(self, instance_id: str) -> Instance | None:
        if not can_be_stored_key(instance_id, MAX_INSTANCE_ID_LENGTH):
            return None
        with translate_errors("reading instance"):
            async with self._engine.connect() as conn:
                return await _select_one(conn, instance_id)

    async def list(self) -> builtins.list[Instance]:
        # created_at first so "the first instance" (bootstrap, CLI) is stable; id breaks ties.
        query = select(instances_table).order_by(instances_table.c.created_at, instances_table.c.id)
        with translate_errors("listing instances"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [_from_row(row) for row in rows]

    async def count(self) -> int:
        with translate_errors("counting instances"):
            async with self._engine.connect() as conn:
                return int((await conn.scalar(select(func.count()).select_from(instances_table))) or 0)

    async def create(self, instance: Instance) -> Instance:
        now = self._clock()
        with translate_errors("creating instance"):
            try:
                async with self._writer.begin() as conn:
                    row = {**_to_row(instance), "created_at": now, "updated_at": now}
                    await conn.execute(insert(instances_table).values(row))
            except IntegrityError as exc:  # the id is the only unique column
                raise StorageError(f"an instance with id {instance.id} already exists") from exc
        return instance

    async def upsert(self, instance: Instance, *, keep_vapid: bool = True) -> Instance:
        """Insert `instance`, or overwrite the instance with its id (created_at is kept).

        With `keep_vapid`, an existing row keeps its VAPID key pair: browsers subscribed with the
        old public key, and a new one would silently orphan every web device. Returns what is
        stored, which may differ from `instance` in those keys.

        One atomic statement (INSERT ... ON CONFLICT): several nodes starting at once against one
        PostgreSQL all upsert the default instance, and a read-then-insert would fail all but one.
        """
        now = self._clock()
        row = _to_row(instance)
        kept = {"id", *_VAPID_COLUMNS} if keep_vapid else {"id"}
        dialect_insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        stmt = dialect_insert(instances_table).values(**row, created_at=now, updated_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[instances_table.c.id],
            set_={**{k: v for k, v in row.items() if k not in kept}, "updated_at": now},
        )
        with translate_errors("saving instance"):
            async with self._writer.begin() as conn:
                await conn.execute(stmt)
                stored = await _select_one(conn, instance.id)
        if stored is None:  # cannot happen: written in this very transaction
            raise StorageError(f"instance {instance.id} vanished while being saved")
        return stored

    async def update(self, instance_id: str, **changes: object) -> Instance:
        """Change some fields of an instance; the result is validated as a whole through `Instance`.

        `providers` replaces the stored mapping. Raises RecordNotFound if there is no such instance,
        pydantic's ValidationError (a ValueError) for bad values or unknown fields, ValueError for an
        attempt to change the id.
        """
        if "id" in changes and changes["id"] != instance_id:
            raise ValueError("an instance's id cannot be changed")
        with translate_errors("updating instance"):
            async with self._writer.begin() as conn:
                current = await _select_one(conn, instance_id, for_update=True)
                if current is None:
                    raise RecordNotFound(f"no instance with id {instance_id}")
                instance = _apply(current, changes)
                await conn.execute(
                    update(instances_table)
                    .where(instances_table.c.id == instance_id)
                    .values(**_to_row(instance), updated_at=self._clock())
                )
        return instance


async def _select_one(conn: AsyncConnection, instance_id: str, *, for_update: bool = False) -> Instance | None:
    query = select(instances_table).where(instances_table.c.id == instance_id)
    if for_update:  # PostgreSQL row lock; SQLite ignores it (its write lock covers the file)
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return _from_row(row) if row is not None else None


def _apply(current: Instance, changes: Mapping[str, object]) -> Instance:
    values: dict[str, Any] = current.model_dump()
    values.update(changes)
    return Instance.model_validate(values)


def _to_row(instance: Instance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "secret_key": instance.secret_key,
        "name": instance.name,
        "vapid_private_key": instance.vapid_private_key,
        "vapid_public_key": instance.vapid_public_key,
        "providers": instance.providers,
    }


def _from_row(row: Row[Any]) -> Instance:
    m = row._mapping
    return Instance(
        id=m["id"],
        secret_key=m["secret_key"],
        name=m["name"],
        vapid_private_key=m["vapid_private_key"],
        vapid_public_key=m["vapid_public_key"],
        providers=m["providers"],
    )

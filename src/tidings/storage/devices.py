"""DeviceStore: Beams devices, their interests and their users (`beams_devices`, `beams_device_interests`).

Writes that check a limit first lock the device before reading anything (see `_lock_device`), so two
requests for one device, or for one user, cannot both pass the check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, delete, exists, func, insert, select, text, union, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tidings.beams.models import Device, Platform
from tidings.errors import StorageError
from tidings.storage.apps import Clock, utcnow
from tidings.storage.beams import InterestResult, SetUserResult, as_utc
from tidings.storage.engine import for_writes, translate_errors
from tidings.storage.schema import beams_device_interests as interests_table
from tidings.storage.schema import beams_devices as devices_table
from tidings.storage.schema import beams_instances as instances_table

# Column shorthands: the queries below read better as dev.user_id than devices_table.c.user_id.
dev = devices_table.c
di = interests_table.c


class DeviceStore:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._writer = for_writes(engine)  # begin() on it: the transactions that write
        self._clock = clock

    async def create(self, device: Device) -> Device:
        """Store a new device; `created_at` is now unless the device carries one. Returns it as stored."""
        now = self._clock()
        created_at = as_utc(device.created_at) if device.created_at is not None else now
        stored = device.model_copy(update={"created_at": created_at})
        with translate_errors("creating device"):
            try:
                async with self._writer.begin() as conn:
                    await conn.execute(insert(devices_table).values(**_to_row(stored), updated_at=now))
            except IntegrityError as exc:
                raise await self._create_conflict(device) from exc
        return stored

    async def get(self, instance_id: str, device_id: str) -> Device | None:
        with translate_errors("reading device"):
            async with self._engine.connect() as conn:
                return await _select_device(conn, instance_id, device_id)

    async def delete(self, instance_id: str, device_id: str) -> bool:
        """Delete a device and (ON DELETE CASCADE) its interests; False if there was none."""
        with translate_errors("deleting device"):
            async with self._writer.begin() as conn:
                result = await conn.execute(delete(devices_table).where(_device_is(instance_id, device_id)))
        return result.rowcount > 0

    async def set_token(self, instance_id: str, device_id: str, token: str) -> Device | None:
        return await self._set(instance_id, device_id, "setting device token", token=token)

    async def set_metadata(self, instance_id: str, device_id: str, metadata: dict[str, Any]) -> Device | None:
        return await self._set(instance_id, device_id, "setting device metadata", metadata=metadata)

    async def set_user(
        self, instance_id: str, device_id: str, user_id: str, *, max_per_platform: int = 100
    ) -> SetUserResult:
        """Tie the device to `user_id`, unless it belongs to someone else or the user is at the limit.

        Setting the same user again is OK (the web SDK does it on every setUserId). The limit counts
        the user's other devices on this device's platform. Race-free: concurrent calls for one user
        and platform take turns (PostgreSQL: an advisory lock on the triple; SQLite: the write lock).
        """
        with translate_errors("setting device user"):
            async with self._engine.connect() as conn:
                result = await self._set_user(conn, instance_id, device_id, user_id, max_per_platform)
                if result is SetUserResult.OK:
                    await conn.commit()
                # Otherwise leaving the block rolls back the lock's updated_at: a refusal changes nothing.
        return result

    async def _set_user(
        self, conn: AsyncConnection, instance_id: str, device_id: str, user_id: str, limit: int
    ) -> SetUserResult:
        if not await self._lock_device(conn, instance_id, device_id):
            return SetUserResult.NOT_FOUND
        platform, current = (await conn.execute(select(dev.platform, dev.user_id).where(dev.id == device_id))).one()
        if current == user_id:
            return SetUserResult.OK
        if current is not None:
            return SetUserResult.OTHER_USER
        if conn.dialect.name == "postgresql":
            # Row locks cannot guard a count over rows that do not exist yet; this serialises every
            # set_user for the same (instance, user, platform) until commit. SQLite needs nothing more:
            # _lock_device already holds its single write lock.
            key = _advisory_key("beams-user", instance_id, user_id, platform)
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        # This device has no user yet, so it is not among those counted.
        owned = await conn.scalar(
            select(func.count())
            .select_from(devices_table)
            .where(dev.instance_id == instance_id, dev.user_id == user_id, dev.platform == platform)
        )
        if int(owned or 0) >= limit:
            return SetUserResult.TOO_MANY_DEVICES
        await conn.execute(update(devices_table).where(dev.id == device_id).values(user_id=user_id))
        return SetUserResult.OK

    async def add_interest(
        self, instance_id: str, device_id: str, interest: str, *, max_interests: int = 5000
    ) -> InterestResult:
        """Subscribe the device to `interest`; already subscribed is OK, even at the limit."""
        with translate_errors("adding device interest"):
            async with self._engine.connect() as conn:
                if not await self._lock_device(conn, instance_id, device_id):
                    return InterestResult.NOT_FOUND
                present = await conn.scalar(select(exists().where(di.device_id == device_id, di.interest == interest)))
                if present:
                    return InterestResult.OK  # nothing to write: leaving the block rolls back the lock
                count = await conn.scalar(
                    select(func.count()).select_from(interests_table).where(di.device_id == device_id)
                )
                if int(count or 0) >= max_interests:
                    return InterestResult.TOO_MANY
                await conn.execute(
                    insert(interests_table).values(device_id=device_id, instance_id=instance_id, interest=interest)
                )
                await conn.commit()
        return InterestResult.OK

    async def remove_interest(self, instance_id: str, device_id: str, interest: str) -> bool:
        """Unsubscribe; True also if the device did not have the interest, False if there is no device."""
        with translate_errors("removing device interest"):
            async with self._writer.begin() as conn:
                if not await self._lock_device(conn, instance_id, device_id):
                    return False
                await conn.execute(delete(interests_table).where(di.device_id == device_id, di.interest == interest))
        return True

    async def set_interests(self, instance_id: str, device_id: str, interests: Sequence[str]) -> bool:
        """Replace the device's interests with `interests` (duplicates ignored) in one transaction.

        No limit is checked here: the caller validates the size of the set it was given.
        """
        unique = list(dict.fromkeys(interests))
        with translate_errors("setting device interests"):
            async with self._writer.begin() as conn:
                if not await self._lock_device(conn, instance_id, device_id):
                    return False
                await conn.execute(delete(interests_table).where(di.device_id == device_id))
                if unique:
                    await conn.execute(
                        insert(interests_table),
                        [{"device_id": device_id, "instance_id": instance_id, "interest": x} for x in unique],
                    )
        return True

    async def list_interests(
        self, instance_id: str, device_id: str, *, limit: int, offset: int
    ) -> tuple[list[str], int | None] | None:
        """One page of the device's interests, sorted by name, and the offset of the next page (None
        on the last); None if there is no such device."""
        query = (
            select(di.interest)
            .where(di.device_id == device_id)
            .order_by(di.interest)
            .limit(limit + 1)  # one more than asked: tells whether there is a next page
            .offset(offset)
        )
        with translate_errors("listing device interests"):
            async with self._engine.connect() as conn:
                found = await conn.scalar(select(exists().where(_device_is(instance_id, device_id))))
                if not found:
                    return None
                names = list((await conn.scalars(query)).all())
        if len(names) > limit:
            return names[:limit], offset + limit
        return names, None

    async def delete_user(self, instance_id: str, user_id: str) -> int:
        """Delete every device of `user_id` and (ON DELETE CASCADE) their interests; returns how many.

        Pusher's "delete user" removes the user and all their devices: nothing published afterwards, to
        the user or to any interest, reaches them. A device registered again later starts anew.
        """
        with translate_errors("deleting user"):
            async with self._writer.begin() as conn:
                result = await conn.execute(
                    delete(devices_table).where(dev.instance_id == instance_id, dev.user_id == user_id)
                )
        return result.rowcount

    async def count_for_user(self, instance_id: str, user_id: str) -> dict[Platform, int]:
        """The user's devices per platform; every platform is present, with 0 if it has none."""
        query = (
            select(dev.platform, func.count())
            .where(dev.instance_id == instance_id, dev.user_id == user_id)
            .group_by(dev.platform)
        )
        with translate_errors("counting user devices"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        counts = {Platform(platform): int(n) for platform, n in rows}
        return {platform: counts.get(platform, 0) for platform in Platform}

    async def page_by_users(
        self, instance_id: str, user_ids: Sequence[str], *, after: str | None, limit: int
    ) -> list[Device]:
        """Up to `limit` devices of these users with id > `after`, in id order (keyset paging)."""
        return await self._page(target_page("users", instance_id, user_ids, after, limit), "listing devices of users")

    async def page_by_interests(
        self, instance_id: str, interests: Sequence[str], *, after: str | None, limit: int
    ) -> list[Device]:
        """Up to `limit` distinct devices subscribed to any of `interests`, id > `after`, in id order."""
        query = target_page("interests", instance_id, interests, after, limit)
        return await self._page(query, "listing devices of interests")

    async def _page(self, query: Select[Any] | None, action: str) -> list[Device]:
        if query is None:
            return []
        with translate_errors(action):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [_from_row(row) for row in rows]

    async def delete_by_token(self, instance_id: str, platform: Platform, token: str) -> int:
        """Delete the devices holding a token the gateway reported dead; returns how many."""
        with translate_errors("deleting devices by token"):
            async with self._writer.begin() as conn:
                result = await conn.execute(
                    delete(devices_table).where(
                        dev.instance_id == instance_id, dev.token == token, dev.platform == platform.value
                    )
                )
        return result.rowcount

    async def _set(self, instance_id: str, device_id: str, action: str, **values: Any) -> Device | None:
        with translate_errors(action):
            async with self._writer.begin() as conn:
                result = await conn.execute(
                    update(devices_table)
                    .where(_device_is(instance_id, device_id))
                    .values(**values, updated_at=self._clock())
                )
                if result.rowcount == 0:
                    return None
                return await _select_device(conn, instance_id, device_id)

    async def _lock_device(self, conn: AsyncConnection, instance_id: str, device_id: str) -> bool:
        """Lock the device until the transaction ends (bumping updated_at); False if it does not exist.

        A write as the first statement on purpose. SQLite: it takes the database write lock at once,
        waiting busy_timeout for it, as BEGIN IMMEDIATE would (a read first would make the later
        write fail with SQLITE_BUSY whenever another writer committed in between). PostgreSQL: it
        holds the row lock, so every guarded write to one device queues behind the previous one.
        """
        result = await conn.execute(
            update(devices_table).where(_device_is(instance_id, device_id)).values(updated_at=self._clock())
        )
        return result.rowcount > 0

    async def _create_conflict(self, device: Device) -> StorageError:
        """Name what clashed, by looking: driver messages differ between backends."""
        with translate_errors("creating device"):
            async with self._engine.connect() as conn:
                if await conn.scalar(select(exists().where(dev.id == device.id))):
                    return StorageError(f"a device with id {device.id} already exists")
                if not await conn.scalar(select(exists().where(instances_table.c.id == device.instance_id))):
                    return StorageError(f"no instance with id {device.instance_id}")
        return StorageError(f"device {device.id} conflicts with an existing row")


def target_page(
    kind: str,
    instance_id: str,
    targets: Sequence[str],
    after: str | None,
    limit: int,
    columns: Sequence[Any] = (devices_table,),
) -> Select[Any] | None:
    """The query for the next page of a publish's target devices: up to `limit` devices with id > `after`, in
    id order (keyset paging), of the users (kind "users") or subscribed to any of the interests; None if there
    are no targets. `columns` picks what is read (delivery's expansion reads ids and platforms only).

    For interests, each interest contributes at most `limit` ids read in order from its index range, so a page
    costs O(len(interests) * limit) whatever the audience size; the smallest `limit` of their union are exactly
    the next page. (One `interest IN (...)` scan would read and sort every subscriber of every interest.)
    """
    if not targets:
        return None
    if kind == "users":
        query = select(*columns).where(dev.instance_id == instance_id, dev.user_id.in_(list(dict.fromkeys(targets))))
        if after is not None:
            query = query.where(dev.id > after)
        return query.order_by(dev.id).limit(limit)
    branches = []
    for interest in dict.fromkeys(targets):
        ids = select(di.device_id).where(di.instance_id == instance_id, di.interest == interest)
        if after is not None:
            ids = ids.where(di.device_id > after)
        # Wrapped in a subquery: SQLite refuses ORDER BY / LIMIT on the arms of a UNION itself.
        limited = ids.order_by(di.device_id).limit(limit).subquery()
        branches.append(select(limited.c.device_id))
    candidates = (branches[0] if len(branches) == 1 else union(*branches)).subquery()
    return (
        select(*columns)
        .join(candidates, dev.id == candidates.c.device_id)
        .where(dev.instance_id == instance_id)
        .order_by(dev.id)
        .limit(limit)
    )


def _device_is(instance_id: str, device_id: str) -> Any:
    # Always scoped to the instance: a device id from another instance must read as unknown.
    return and_(dev.id == device_id, dev.instance_id == instance_id)


def _advisory_key(*parts: str) -> int:
    """A stable signed 64-bit key for pg_advisory_xact_lock (Python's hash() changes per process)."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _select_device(conn: AsyncConnection, instance_id: str, device_id: str) -> Device | None:
    row = (await conn.execute(select(devices_table).where(_device_is(instance_id, device_id)))).first()
    return _from_row(row) if row is not None else None


def _to_row(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "instance_id": device.instance_id,
        "platform": device.platform.value,
        "token": device.token,
        "user_id": device.user_id,
        "metadata": device.metadata,
        "bundle_identifier": device.bundle_identifier,
        "created_at": device.created_at,
    }


def _from_row(row: Row[Any]) -> Device:
    m = row._mapping
    return Device(
        id=m["id"],
        instance_id=m["instance_id"],
        platform=Platform(m["platform"]),
        token=m["token"],
        user_id=m["user_id"],
        metadata=m["metadata"],
        bundle_identifier=m["bundle_identifier"],
        created_at=as_utc(m["created_at"]),
    )

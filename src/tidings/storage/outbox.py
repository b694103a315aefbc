"""OutboxStore: the push outbox (`beams_outbox`), notifications of instances in outbox mode, kept instead of sent.

    kept = await store.keep(entry, max_per_instance=1000, retention=86400)   # the new row's id
    newest = await store.list(instance_id, user_id="alice", retention=86400)  # newest first

Bounded and expiring: every write deletes, in the same transaction, the instance's rows past `max_per_instance`
(the oldest) and those older than `retention` seconds; reads never return an expired row, even one no write has
pruned yet. The rows hold what a gateway would have received (device tokens, payloads): they are served only
to holders of the instance's secret key and never logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tidings.storage.apps import Clock, utcnow
from tidings.storage.beams import as_utc
from tidings.storage.engine import for_writes, translate_errors
from tidings.storage.schema import beams_outbox as outbox_table

o = outbox_table.c


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One notification as it would have been sent to one device (`request`: providers.outbox.render)."""

    instance_id: str
    publish_id: str
    device_id: str
    user_id: str | None
    platform: str
    request: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    id: int
    entry: OutboxEntry
    created_at: datetime


class OutboxStore:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._writer = for_writes(engine)
        self._clock = clock

    async def keep(self, entry: OutboxEntry, *, max_per_instance: int, retention: float) -> int:
        """Store `entry`, prune the instance's overflow and expired rows; the new row's id."""
        now = self._clock()
        row = {
            "instance_id": entry.instance_id, "publish_id": entry.publish_id, "device_id": entry.device_id,
            "user_id": entry.user_id, "platform": entry.platform, "request": entry.request,
            "created_at": as_utc(now),
        }
        with translate_errors("keeping an outbox notification"):
            async with self._writer.begin() as conn:
                new_id = int((await conn.execute(insert(outbox_table).values(row).returning(o.id))).scalar_one())
                # The id of the oldest row still kept: everything of the instance below it goes.
                floor = (
                    select(o.id).where(o.instance_id == entry.instance_id)
                    .order_by(o.id.desc()).offset(max(max_per_instance, 1) - 1).limit(1).scalar_subquery()
                )
                await conn.execute(delete(outbox_table).where(o.instance_id == entry.instance_id, o.id < floor))
                await conn.execute(delete(outbox_table).where(
                    o.instance_id == entry.instance_id, o.created_at < as_utc(now - timedelta(seconds=retention))
                ))
        return new_id

    async def list(
        self, instance_id: str, *, retention: float, user_id: str | None = None, after_id: int | None = None,
        limit: int = 100,
    ) -> list[OutboxRecord]:
        """The instance's kept notifications, newest first: of `user_id` only when given, newer than `after_id`
        when given (what --follow polls with), at most `limit`."""
        cutoff = as_utc(self._clock() - timedelta(seconds=retention))
        query = select(outbox_table).where(o.instance_id == instance_id, o.created_at >= cutoff)
        if user_id is not None:
            query = query.where(o.user_id == user_id)
        if after_id is not None:
            query = query.where(o.id > after_id)
        query = query.order_by(o.id.desc()).limit(limit)
        with translate_errors("reading the outbox"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).mappings().all()
        return [
            OutboxRecord(
                id=int(r["id"]),
                entry=OutboxEntry(r["instance_id"], r["publish_id"], r["device_id"], r["user_id"], r["platform"],
                                  dict(r["request"])),
                created_at=as_utc(r["created_at"]),
            )
            for r in rows
        ]

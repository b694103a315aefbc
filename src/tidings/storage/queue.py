"""How much Beams work waits: publishes not yet finished, and when the oldest of them was accepted (for metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tidings.storage.beams import as_utc
from tidings.storage.engine import translate_errors
from tidings.storage.schema import beams_publishes as publishes_table

p = publishes_table.c


@dataclass(frozen=True, slots=True)
class QueueStats:
    publishes: int  # queued or being delivered
    oldest: datetime | None  # created_at of the oldest of them


async def queue_stats(engine: AsyncEngine) -> QueueStats:
    query = select(func.count(), func.min(p.created_at)).where(p.status.in_(("queued", "running")))
    with translate_errors("reading the delivery queue's size"):
        async with engine.connect() as conn:
            count, oldest = (await conn.execute(query)).one()
    return QueueStats(int(count), as_utc(oldest) if oldest is not None else None)

"""DeliveryStore: the Beams delivery queue (leases on `beams_publishes`) and per-device results (`beams_deliveries`).

A worker claims a publish for `lease_seconds`, renews the lease while it works, and records results
in batches. Every write that matters checks the lease in the same transaction, so a worker that lost
its job (stalled past the lease, another worker took over) can no longer move the cursor or finish it:

    job = await store.claim("worker-1", lease_seconds=30)        # oldest queued, or abandoned, publish
    await store.renew(job.publish.id, "worker-1", until)          # False: the lease was lost, stop
    await store.record_page(job.publish.id, "worker-1", results, new_cursor="web-...")
    await store.finish(job.publish.id, "worker-1")

The cursor is the id of the last device of the last completed page (devices are paged in id order).
Results may also be recorded mid-page without moving the cursor; a worker taking over skips the
devices of its first page that already have a result (`done_among`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from tidings.beams.models import Platform, Publish
from tidings.storage.apps import Clock, utcnow
from tidings.storage.beams import as_utc
from tidings.storage.engine import translate_errors
from tidings.storage.publishes import _from_row as publish_from_row
from tidings.storage.schema import beams_deliveries as deliveries_table
from tidings.storage.schema import beams_devices as devices_table
from tidings.storage.schema import beams_publishes as publishes_table

DeliveryOutcome = Literal["sent", "failed", "removed", "skipped"]
OUTCOMES: tuple[DeliveryOutcome, ...] = ("sent", "failed", "removed", "skipped")
PublishState = Literal["queued", "running", "done"]

p = publishes_table.c
d = deliveries_table.c


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What happened to one device. For "removed", the device is deleted with the result, if it still
    holds `token` (a device whose app registered a fresh token meanwhile is not thrown away)."""

    device_id: str
    platform: Platform
    outcome: DeliveryOutcome
    status_code: int | None = None
    reason: str | None = None
    attempts: int = 1
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed publish: where to resume, and when the first worker started it."""

    publish: Publish
    cursor: str | None
    started_at: datetime
    lease_until: datetime
    resumed: bool = False  # another claim came first (a takeover, even before the first page was recorded)


@dataclass(frozen=True, slots=True)
class PublishProgress:
    publish: Publish
    state: PublishState
    cursor: str | None
    started_at: datetime | None
    finished_at: datetime | None
    devices: dict[DeliveryOutcome, int]  # every outcome present, 0 when none


class DeliveryStore:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._clock = clock

    async def claim(self, worker_id: str, lease_seconds: float, now: datetime | None = None) -> Job | None:
        """Take the oldest publish that is queued, or running under an expired lease; None if there is none.

        One statement: the UPDATE's subquery picks the row. PostgreSQL: FOR UPDATE SKIP LOCKED makes
        concurrent claimers pass over a row another one is taking (a row claimed and committed since
        this statement's snapshot is re-checked and skipped). SQLite: the UPDATE takes the database
        write lock before its subquery reads, so claims are serialised (FOR UPDATE renders as nothing).
        """
        now = as_utc(now or self._clock())
        until = now + timedelta(seconds=lease_seconds)
        claimable = or_(p.status == "queued", and_(p.status == "running", p.lease_until < now))
        pick = (
            select(p.id)
            .where(claimable)
            .order_by(p.created_at, p.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(publishes_table)
            .where(p.id == pick)
            .values(
                status="running",
                lease_owner=worker_id,
                lease_until=until,
                started_at=func.coalesce(p.started_at, now),
            )
            .returning(*publishes_table.c)
        )
        with translate_errors("claiming a publish"):
            async with self._engine.begin() as conn:
                row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        m = row._mapping
        started_at = as_utc(m["started_at"])
        return Job(publish_from_row(row), m["cursor"], started_at, as_utc(m["lease_until"]), resumed=started_at < now)

    async def renew(self, publish_id: str, worker_id: str, until: datetime) -> bool:
        """Extend the lease; False if this worker no longer holds it (stop working on the publish)."""
        stmt = update(publishes_table).where(_held(publish_id, worker_id)).values(lease_until=as_utc(until))
        with translate_errors("renewing a publish lease"):
            async with self._engine.begin() as conn:
                result = await conn.execute(stmt)
        return result.rowcount > 0

    async def record_page(
        self, publish_id: str, worker_id: str, results: Sequence[DeliveryResult], new_cursor: str | None = None
    ) -> bool:
        """Record results (devices already recorded keep their first result), delete removed devices and,
        if `new_cursor` is given, advance the cursor: one transaction, only while the lease is held.

        Returns False, changing nothing, if the lease was lost.
        """
        touch = update(publishes_table).where(_held(publish_id, worker_id))
        # The lease check is a write, first: on PostgreSQL it locks the publish row until commit, on SQLite
        # it takes the write lock at once (see DeviceStore._lock_device); a takeover waits for us or wins.
        touch = touch.values(cursor=new_cursor) if new_cursor is not None else touch.values(cursor=p.cursor)
        now = as_utc(self._clock())
        rows = [_result_row(publish_id, result, now) for result in results]
        with translate_errors("recording deliveries"):
            async with self._engine.connect() as conn:
                if (await conn.execute(touch)).rowcount == 0:
                    return False  # leaving the block rolls back
                if rows:
                    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
                    await conn.execute(dialect_insert(deliveries_table).on_conflict_do_nothing(), rows)
                for result in results:
                    if result.outcome == "removed" and result.token is not None:
                        await conn.execute(
                            delete(devices_table).where(
                                devices_table.c.id == result.device_id, devices_table.c.token == result.token
                            )
                        )
                await conn.commit()
        return True

    async def done_among(self, publish_id: str, device_ids: Iterable[str]) -> set[str]:
        """The devices of `device_ids` that already have a result for this publish."""
        ids = list(device_ids)
        if not ids:
            return set()
        query = select(d.device_id).where(d.publish_id == publish_id, d.device_id.in_(ids))
        with translate_errors("reading deliveries"):
            async with self._engine.connect() as conn:
                return set((await conn.scalars(query)).all())

    async def finish(self, publish_id: str, worker_id: str) -> bool:
        """Mark the publish done; False if this worker had lost it."""
        return await self._end_lease(publish_id, worker_id, "done", finished_at=as_utc(self._clock()))

    async def release(self, publish_id: str, worker_id: str) -> bool:
        """Give an unfinished publish back to the queue now (a worker shutting down), instead of
        letting the lease run out; progress (cursor, results, started_at) is kept."""
        return await self._end_lease(publish_id, worker_id, "queued")

    async def status(self, instance_id: str, publish_id: str) -> PublishProgress | None:
        """The publish, where its delivery stands and how many devices had each outcome; None if unknown."""
        publish_query = select(publishes_table).where(p.id == publish_id, p.instance_id == instance_id)
        counts_query = select(d.outcome, func.count()).where(d.publish_id == publish_id).group_by(d.outcome)
        with translate_errors("reading publish progress"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(publish_query)).first()
                if row is None:
                    return None
                counts = {outcome: int(n) for outcome, n in (await conn.execute(counts_query)).all()}
        m = row._mapping
        return PublishProgress(
            publish=publish_from_row(row),
            state=m["status"],
            cursor=m["cursor"],
            started_at=_maybe_utc(m["started_at"]),
            finished_at=_maybe_utc(m["finished_at"]),
            devices={outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
        )

    async def _end_lease(self, publish_id: str, worker_id: str, state: PublishState, **values: Any) -> bool:
        stmt = (
            update(publishes_table)
            .where(_held(publish_id, worker_id))
            .values(status=state, lease_owner=None, lease_until=None, **values)
        )
        with translate_errors("ending a publish lease"):
            async with self._engine.begin() as conn:
                result = await conn.execute(stmt)
        return result.rowcount > 0


def _held(publish_id: str, worker_id: str) -> Any:
    # Not checking lease_until: an expired lease nobody took over is still ours, and taking it over
    # changes lease_owner, which is what this sees.
    return and_(p.id == publish_id, p.lease_owner == worker_id, p.status == "running")


def _result_row(publish_id: str, result: DeliveryResult, now: datetime) -> dict[str, Any]:
    return {
        "publish_id": publish_id,
        "device_id": result.device_id,
        "platform": result.platform.value,
        "outcome": result.outcome,
        "status_code": result.status_code,
        "reason": result.reason[:500] if result.reason else result.reason,  # gateway texts can be long
        "attempts": result.attempts,
        "created_at": now,
    }


def _maybe_utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None

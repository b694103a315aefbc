"""DeliveryStore: the Beams delivery schedule, one row per targeted device in `beams_deliveries`.

A publish is **expanded** page by page into rows, one per target device, outcome "pending" with the time of
its next attempt (`next_at`). Workers **claim** due pending rows of a publish under a short lease, send, and
**record** each row's final result (or its next attempt, for a device that must be retried later). So:

- any worker of any process can work on any publish, and one big publish is shared by all of them;
- a device that fails transiently is rescheduled durably and never holds up the others;
- a worker that dies leaves leases that expire, after which its rows are claimed again (at least once);
- results are written only by the lease holder, so a crash resends at most the rows it had claimed.

    for active in await store.active(now):                       # publishes with work, oldest first
        await store.expand(active.id, page_size=500, now=now)     # one page of rows, if not expanded yet
        claimed = await store.claim(active.id, "worker-1", limit=100, lease_seconds=30, now=now)
        ...send...
        await store.record(active.id, "worker-1", results, now=now)
        await store.finish_if_complete(active.id, now=now)

Rows are claimed by primary key and the pending ones are in a small partial index, so the table's history
(one row per device ever reached) does not slow the schedule down.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Update,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tidings.beams.models import Device, Platform, Publish
from tidings.beams.validation.publish import routed_event
from tidings.storage.apps import Clock, utcnow
from tidings.storage.beams import as_utc
from tidings.storage.devices import target_page
from tidings.storage.engine import for_writes, translate_errors
from tidings.storage.publishes import publish_from_row
from tidings.storage.routes import RouteStore, RoutingCounts, stale_socket, undelivered_socket
from tidings.storage.schema import beams_deliveries as deliveries_table
from tidings.storage.schema import beams_devices as devices_table
from tidings.storage.schema import beams_publishes as publishes_table
from tidings.storage.schema import beams_routes as routes_table

DeliveryOutcome = Literal["sent", "failed", "removed", "skipped"]
OUTCOMES: tuple[DeliveryOutcome, ...] = ("sent", "failed", "removed", "skipped")
PublishState = Literal["queued", "running", "done"]

p = publishes_table.c
d = deliveries_table.c
dev = devices_table.c
rt = routes_table.c

# A literal, not a bound parameter: SQLite uses a partial index only when the query repeats its WHERE verbatim.
PENDING = text("beams_deliveries.outcome = 'pending'")
# The same test as a bound parameter, for statements that name their rows by primary key: with the literal,
# PostgreSQL chose the partial index (publish_id alone) and scanned every pending row of the publish for each
# row written (2.9 ms of database CPU per notification at 20,000 devices, measured in bench/beams).
STILL_PENDING = d.outcome == "pending"
UNFINISHED = p.status.in_(("queued", "running"))


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
class Reschedule:
    """A device to try again at `at` (a 429, a 5xx, a timeout): it stays pending, its lease is given up."""

    device_id: str
    at: datetime
    attempts: int
    status_code: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ActivePublish:
    """A publish with work to do: rows to expand, rows due, or none left pending (to be finished)."""

    id: str
    instance_id: str
    created_at: datetime
    started_at: datetime | None
    expanded: bool
    drained: bool = False  # no row pending (nor a socket route unsent): done once expanded
    stale_routes: bool = False  # routed: socket routes whose sender's lease ran out unsent (storage/routes.py)


@dataclass(frozen=True, slots=True)
class Expansion:
    added: int  # rows written by this step (devices already recorded keep their rows)
    complete: bool  # the publish is fully expanded now
    first: bool  # this step started the publish


@dataclass(frozen=True, slots=True)
class Claimed:
    """A pending row this worker now holds; `device` is None if the device was deleted since expansion."""

    device_id: str
    platform: Platform
    attempts: int  # made before this claim
    device: Device | None


@dataclass(frozen=True, slots=True)
class PublishProgress:
    publish: Publish
    state: PublishState
    started_at: datetime | None
    finished_at: datetime | None
    devices: dict[DeliveryOutcome, int]  # every final outcome present, 0 when none
    pending: int  # targeted devices without a final result yet
    routing: RoutingCounts | None = None  # routed publishes (a `channels` object): users per route


class DeliveryStore:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._writer = for_writes(engine)  # begin() on it: the transactions that write
        self._clock = clock
        self.routes = RouteStore(engine, clock=clock)  # routed publishes: the users' routes

    async def active(self, now: datetime, limit: int = 500) -> list[ActivePublish]:
        """Unfinished publishes that have something to do now, oldest first: not expanded yet, with rows due
        and not leased, socket routes to send again, or nothing left to send (finished by `finish_if_complete`)."""
        now = as_utc(now)
        due = select(d.publish_id).where(d.publish_id == p.id, PENDING, d.next_at <= now, _unleased(now))
        anything = select(d.publish_id).where(d.publish_id == p.id, PENDING)
        unsent = select(rt.publish_id).where(rt.publish_id == p.id, undelivered_socket())
        stale = exists(select(rt.publish_id).where(rt.publish_id == p.id, stale_socket(now)))
        drained = and_(not_(exists(anything)), not_(exists(unsent)))
        query = (
            select(
                p.id, p.instance_id, p.created_at, p.started_at, p.expanded, drained.label("drained"),
                stale.label("stale"),
            )
            .where(UNFINISHED, or_(p.expanded == false(), exists(due), drained, stale))
            .order_by(p.created_at, p.id)
            .limit(limit)
        )
        with translate_errors("listing publishes to deliver"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [
            ActivePublish(
                r.id, r.instance_id, as_utc(r.created_at), _maybe_utc(r.started_at), bool(r.expanded), bool(r.drained),
                bool(r.stale),
            )
            for r in rows
        ]

    async def publish(self, publish_id: str) -> Publish | None:
        query = select(publishes_table).where(p.id == publish_id)
        with translate_errors("reading a publish"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
        return publish_from_row(row) if row is not None else None

    async def expand(self, publish_id: str, page_size: int, now: datetime) -> Expansion | None:
        """Write the rows of the next page of target devices (one transaction); None if there is nothing to
        expand (done, expanded already, or the publish is gone).

        The first statement is the write that marks the publish running: PostgreSQL locks its row, SQLite takes
        the write lock, so concurrent expanders queue and each sees the cursor the previous one left.
        """
        now = as_utc(now)
        start = (
            update(publishes_table)
            .where(p.id == publish_id, UNFINISHED, p.expanded == false())
            .values(status="running", started_at=func.coalesce(p.started_at, now))
            .returning(p.instance_id, p.kind, p.targets, p.cursor, p.started_at)
        )
        with translate_errors("expanding a publish"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(start)).first()
                if row is None:
                    await conn.rollback()
                    return None
                page = target_page(
                    row.kind, row.instance_id, row.targets, row.cursor, page_size, (dev.id, dev.platform)
                )
                found = (await conn.execute(page)).all() if page is not None else []
                rows = [
                    {
                        "publish_id": publish_id,
                        "device_id": device_id,
                        "platform": platform,
                        "outcome": "pending",
                        "attempts": 0,
                        "created_at": now,
                        "next_at": now,
                    }
                    for device_id, platform in found
                ]
                added = 0
                if rows:
                    # executemany, not one VALUES list: one cached statement (a VALUES list of a new length is
                    # compiled anew, which cost more CPU than the rest of the expansion).
                    stmt = _insert(conn).on_conflict_do_nothing().returning(d.device_id)
                    added = len((await conn.execute(stmt, rows)).all())
                complete = len(found) < page_size
                values: dict[str, Any] = {"expanded": complete}
                if found:
                    values["cursor"] = found[-1][0]
                await conn.execute(update(publishes_table).where(p.id == publish_id).values(**values))
                await conn.commit()
        return Expansion(added, complete, first=as_utc(row.started_at) == now and row.cursor is None)

    async def claim(
        self, publish_id: str, worker_id: str, limit: int, lease_seconds: float, now: datetime
    ) -> list[Claimed]:
        """Lease up to `limit` due pending rows of the publish, earliest due first, with their devices.

        PostgreSQL: FOR UPDATE SKIP LOCKED lets concurrent claimers pass over rows another one is taking.
        SQLite: the UPDATE takes the write lock before its subquery reads, so claims are serialised.
        """
        now = as_utc(now)
        pick = (
            select(d.device_id)
            .where(d.publish_id == publish_id, PENDING, d.next_at <= now, _unleased(now))
            .order_by(d.next_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        lease = (
            update(deliveries_table)
            .where(d.publish_id == publish_id, d.device_id.in_(pick.scalar_subquery()))
            .values(lease_owner=worker_id, lease_until=now + timedelta(seconds=lease_seconds))
            .returning(d.device_id, d.platform, d.attempts)
        )
        with translate_errors("claiming deliveries"):
            async with self._writer.begin() as conn:
                leased = (await conn.execute(lease)).all()
                if not leased:
                    return []
                # Only what sending needs: no metadata, no timestamps.
                query = select(
                    dev.id, dev.instance_id, dev.platform, dev.token, dev.user_id, dev.bundle_identifier
                ).where(dev.id.in_([r.device_id for r in leased]))
                devices = {r.id: r for r in (await conn.execute(query)).all()}
        claimed = []
        for r in leased:
            found = devices.get(r.device_id)
            device = None
            if found is not None:
                device = Device.model_construct(
                    id=found.id,
                    instance_id=found.instance_id,
                    platform=Platform(found.platform),
                    token=found.token,
                    user_id=found.user_id,
                    metadata={},
                    bundle_identifier=found.bundle_identifier,
                    created_at=None,
                )
            claimed.append(Claimed(r.device_id, Platform(r.platform), int(r.attempts), device))
        return claimed

    async def renew(self, publish_id: str, worker_id: str, device_ids: Iterable[str], until: datetime) -> int:
        """Extend this worker's leases on these rows; returns how many it still holds."""
        ids = list(device_ids)
        if not ids:
            return 0
        stmt = (
            update(deliveries_table)
            .where(d.publish_id == publish_id, d.device_id.in_(ids), d.lease_owner == worker_id, STILL_PENDING)
            .values(lease_until=as_utc(until))
        )
        with translate_errors("renewing delivery leases"):
            async with self._writer.begin() as conn:
                return (await conn.execute(stmt)).rowcount

    async def release(self, publish_id: str, worker_id: str, device_ids: Iterable[str]) -> int:
        """Give rows back at once (a worker stopping): due again now, for any worker."""
        ids = list(device_ids)
        if not ids:
            return 0
        stmt = (
            update(deliveries_table)
            .where(d.publish_id == publish_id, d.device_id.in_(ids), d.lease_owner == worker_id, STILL_PENDING)
            .values(lease_owner=None, lease_until=None)
        )
        with translate_errors("releasing deliveries"):
            async with self._writer.begin() as conn:
                return (await conn.execute(stmt)).rowcount

    async def record(
        self,
        publish_id: str,
        worker_id: str,
        results: Sequence[DeliveryResult | Reschedule],
        now: datetime | None = None,
    ) -> int:
        """Write final results and reschedules, in one transaction, for rows this worker still holds (a row
        taken over after its lease ran out is left to its new holder); delete devices whose token is dead.
        Returns how many final results were written."""
        now = as_utc(now or self._clock())
        final = [_final_row(publish_id, worker_id, r, now) for r in results if isinstance(r, DeliveryResult)]
        later = [_later_row(publish_id, worker_id, r) for r in results if isinstance(r, Reschedule)]
        dead = [r for r in results if isinstance(r, DeliveryResult) and r.outcome == "removed" and r.token]
        written = 0
        with translate_errors("recording deliveries"):
            async with self._writer.begin() as conn:
                if final:
                    written = (await conn.execute(_RECORD_FINAL, final)).rowcount
                if later:
                    await conn.execute(_RESCHEDULE, later)
                for result in dead:
                    await conn.execute(
                        delete(devices_table).where(dev.id == result.device_id, dev.token == result.token)
                    )
        return written if written >= 0 else len(final)  # some drivers do not count executemany rows

    async def finish_if_complete(self, publish_id: str, now: datetime | None = None) -> bool:
        """Mark the publish done if it is expanded, no row is pending and every socket route (routed publishes) is
        sent; True if this call finished it."""
        left = select(d.publish_id).where(d.publish_id == publish_id, PENDING)
        unsent = select(rt.publish_id).where(rt.publish_id == publish_id, undelivered_socket())
        stmt = (
            update(publishes_table)
            .where(p.id == publish_id, p.status == "running", p.expanded, not_(exists(left)), not_(exists(unsent)))
            .values(status="done", finished_at=as_utc(now or self._clock()), lease_owner=None, lease_until=None)
        )
        with translate_errors("finishing a publish"):
            async with self._writer.begin() as conn:
                return (await conn.execute(stmt)).rowcount > 0

    async def finish(self, publish_id: str, now: datetime | None = None) -> bool:
        """Mark the publish done whatever is pending (its instance was deleted: nothing can be sent)."""
        stmt = (
            update(publishes_table)
            .where(p.id == publish_id, UNFINISHED)
            .values(status="done", expanded=True, finished_at=as_utc(now or self._clock()))
        )
        with translate_errors("finishing a publish"):
            async with self._writer.begin() as conn:
                await conn.execute(delete(deliveries_table).where(d.publish_id == publish_id, PENDING))
                return (await conn.execute(stmt)).rowcount > 0

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
        publish = publish_from_row(row)
        routing = await self.routes.counts(publish_id) if routed_event(publish.payload) is not None else None
        return PublishProgress(
            publish=publish,
            state=m["status"],
            started_at=_maybe_utc(m["started_at"]),
            finished_at=_maybe_utc(m["finished_at"]),
            devices={outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
            pending=counts.get("pending", 0),
            routing=routing,
        )

    async def next_due(self) -> datetime | None:
        """When the earliest pending row is due (it may be due already), or None if nothing is pending."""
        query = select(func.min(d.next_at)).where(PENDING)
        with translate_errors("reading the delivery schedule"):
            async with self._engine.connect() as conn:
                due = await conn.scalar(query)
        return _maybe_utc(due)

    async def targeted(self, publish_id: str, device_id: str) -> bool:
        """Whether the publish targeted this device (it has a row, pending or final)."""
        query = select(d.device_id).where(tuple_(d.publish_id, d.device_id) == (publish_id, device_id))
        with translate_errors("reading deliveries"):
            async with self._engine.connect() as conn:
                return (await conn.scalar(query)) is not None


def _unleased(now: datetime) -> Any:
    return or_(d.lease_until.is_(None), d.lease_until < now)


def _insert(conn: AsyncConnection) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(deliveries_table)


def _held_row() -> Any:
    return and_(
        d.publish_id == bindparam("b_publish"),
        d.device_id == bindparam("b_device"),
        d.lease_owner == bindparam("b_worker"),
        STILL_PENDING,
    )


def _release_held(**values: Any) -> Update:
    """Update a row this worker holds (bound per row: b_publish, b_device, b_worker) and end its lease."""
    common: dict[str, Any] = {
        "status_code": bindparam("b_status"),
        "reason": bindparam("b_reason"),
        "attempts": bindparam("b_attempts"),
        "lease_owner": None,
        "lease_until": None,
    }
    return update(deliveries_table).where(_held_row()).values(**common, **values)


_RECORD_FINAL = _release_held(outcome=bindparam("b_outcome"), created_at=bindparam("b_now"), next_at=None)
_RESCHEDULE = _release_held(next_at=bindparam("b_at"))


def _final_row(publish_id: str, worker_id: str, result: DeliveryResult, now: datetime) -> dict[str, Any]:
    return {
        "b_publish": publish_id,
        "b_device": result.device_id,
        "b_worker": worker_id,
        "b_outcome": result.outcome,
        "b_status": result.status_code,
        "b_reason": _clip(result.reason),
        "b_attempts": result.attempts,
        "b_now": now,
    }


def _later_row(publish_id: str, worker_id: str, result: Reschedule) -> dict[str, Any]:
    return {
        "b_publish": publish_id,
        "b_device": result.device_id,
        "b_worker": worker_id,
        "b_at": as_utc(result.at),
        "b_status": result.status_code,
        "b_reason": _clip(result.reason),
        "b_attempts": result.attempts,
    }


def _clip(reason: str | None) -> str | None:
    return reason[:500] if reason else reason  # gateway texts can be long


def _maybe_utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None

"""PublishStore: accepted Beams publishes (`beams_publishes`) and device reports on them (`beams_reports`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, DateTime, String, exists, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tidings.beams.models import Publish
from tidings.errors import StorageError
from tidings.storage.apps import Clock, utcnow
from tidings.storage.beams import ReportResult, as_utc
from tidings.storage.engine import for_writes, translate_errors
from tidings.storage.schema import JsonType
from tidings.storage.schema import beams_deliveries as deliveries_table
from tidings.storage.schema import beams_publishes as publishes_table
from tidings.storage.schema import beams_reports as reports_table

# Always in report_counts, even at zero: the two events the SDKs send.
REPORT_EVENTS = ("delivery", "open")


class PublishStore:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._writer = for_writes(engine)  # begin() on it: the transactions that write
        self._clock = clock

    async def create(self, publish: Publish) -> Publish:
        """Store a publish, status "queued"; committed when this returns, so it may be acknowledged.

        `created_at` is now unless the publish carries one. Returns the publish as stored.
        """
        created_at = as_utc(publish.created_at) if publish.created_at is not None else self._clock()
        stored = publish.model_copy(update={"created_at": created_at})
        row = {
            "id": stored.id,
            "instance_id": stored.instance_id,
            "kind": stored.kind,
            "targets": list(stored.targets),
            "payload": stored.payload,
            "created_at": created_at,
        }
        with translate_errors("creating publish"):
            try:
                async with self._writer.begin() as conn:
                    await conn.execute(insert(publishes_table).values(row))
            except IntegrityError as exc:  # the id is the only unique column
                raise StorageError(f"a publish with id {publish.id} already exists") from exc
        return stored

    async def get(self, instance_id: str, publish_id: str) -> Publish | None:
        query = select(publishes_table).where(
            publishes_table.c.id == publish_id, publishes_table.c.instance_id == instance_id
        )
        with translate_errors("reading publish"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
        return publish_from_row(row) if row is not None else None

    async def add_report(
        self,
        instance_id: str,
        publish_id: str,
        event: str,
        device_id: str,
        user_id: str | None,
        timestamp_secs: int,
        extra: dict[str, Any],
    ) -> ReportResult:
        """Record a device's report, if this publish of this instance targeted that device (its row in
        `beams_deliveries` exists, whatever its outcome) and the device has not reported this event yet.

        One statement (INSERT ... SELECT ... ON CONFLICT DO NOTHING): the check and the write cannot be
        split by a concurrent retry, and the common case costs one round trip. The event name is stored
        lower-case: iOS and Android send "Delivery" / "Open", the web SDK "delivery" / "open".
        """
        d, p = deliveries_table.c, publishes_table.c
        values: dict[str, ColumnElement[Any]] = {
            "instance_id": literal(instance_id, String),
            "publish_id": literal(publish_id, String),
            "event": literal(event.lower(), String),
            "device_id": literal(device_id, String),
            "user_id": literal(user_id, String),
            "timestamp_secs": literal(timestamp_secs, BigInteger),
            "extra": literal(extra, JsonType),
            "created_at": literal(self._clock(), DateTime(timezone=True)),
        }
        delivery_of_publish = deliveries_table.join(publishes_table, p.id == d.publish_id)
        is_target = (d.publish_id == publish_id, d.device_id == device_id, p.instance_id == instance_id)
        targeted = select(*values.values()).select_from(delivery_of_publish).where(*is_target)
        dialect_insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        stmt = (
            dialect_insert(reports_table)
            .from_select(list(values), targeted)
            .on_conflict_do_nothing(index_elements=["publish_id", "device_id", "event"])
        )
        with translate_errors("recording report"):
            async with self._writer.begin() as conn:
                if (await conn.execute(stmt)).rowcount > 0:
                    return ReportResult.RECORDED
                # Nothing written: tell a retry from a report about a publish that never targeted the device.
                was_targeted = await conn.scalar(
                    select(exists(select(d.device_id).select_from(delivery_of_publish).where(*is_target)))
                )
        return ReportResult.DUPLICATE if was_targeted else ReportResult.NOT_TARGETED

    async def report_counts(self, instance_id: str, publish_id: str) -> dict[str, int]:
        """Devices that reported each event for the publish: {"delivery": n, "open": m, ...}.

        Counts distinct devices, not reports: the mobile SDKs retry a report they could not confirm.
        """
        r = reports_table.c
        query = (
            select(r.event, func.count(r.device_id.distinct()))
            .where(r.publish_id == publish_id, r.instance_id == instance_id)
            .group_by(r.event)
        )
        with translate_errors("counting reports"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return {**dict.fromkeys(REPORT_EVENTS, 0), **{event: int(n) for event, n in rows}}


def publish_from_row(row: Row[Any]) -> Publish:
    """A `beams_publishes` row as a Publish (the delivery store reads them too)."""
    m = row._mapping
    return Publish(
        id=m["id"],
        instance_id=m["instance_id"],
        kind=m["kind"],
        targets=tuple(m["targets"]),
        payload=m["payload"],
        created_at=as_utc(m["created_at"]),
    )

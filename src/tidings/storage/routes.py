"""RouteStore: user-first routing of Beams publishes to users (`beams_routes`), decided once per user.

A publish to users whose body carries `channels` is *routed*: instead of expanding its devices page by page, the
worker takes its users page by page (sorted, `beams_publishes.cursor` holds the last user decided), asks the
Channels side which of them are signed in, and records the decision:

    page = await routes.next_users(publish_id, 100)            # the next users to decide, or None
    decided = await routes.decide(publish_id, "worker-1", {"alice": Route("socket", "app1"), "bob": PUSH},
                                  lease_seconds=30, now=now)
    ...publish decided.to_send on #server-to-user-{id}...
    await routes.delivered(publish_id, "worker-1", decided.to_send, now)

Never both routes, by construction: a user's route row and, for a push route, the rows of their devices in
`beams_deliveries` are written in ONE transaction, before anything is sent; a user whose row exists is never
decided again (the primary key), and device rows are only ever written for users whose stored route is push.
So a worker that dies after deciding, or two workers deciding the same page, act on the stored route.

A socket route is sent by the worker whose lease it holds, then marked delivered. A decider that died leaves a
socket route undelivered with a lapsed lease: `claim_stale` hands it to another worker, which sends it again
over the socket (at least once, never a push). A routed publish is finished only when every user is decided,
no device row is pending and every socket route is delivered (DeliveryStore.finish_if_complete).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, case, false, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import DateTime, Integer, String

from tidings.storage.apps import Clock, utcnow
from tidings.storage.beams import as_utc
from tidings.storage.engine import for_writes, translate_errors
from tidings.storage.schema import beams_deliveries as deliveries_table
from tidings.storage.schema import beams_devices as devices_table
from tidings.storage.schema import beams_publishes as publishes_table
from tidings.storage.schema import beams_routes as routes_table

RouteKind = Literal["socket", "push"]
ROUTES: tuple[RouteKind, ...] = ("socket", "push")

p = publishes_table.c
d = deliveries_table.c
dev = devices_table.c
r = routes_table.c

UNFINISHED = p.status.in_(("queued", "running"))


@dataclass(frozen=True, slots=True)
class Route:
    """What to do with one user: "socket" (over `#server-to-user-{id}` of `app_id`) or "push"."""

    kind: RouteKind
    app_id: str | None = None


PUSH = Route("push")


@dataclass(frozen=True, slots=True)
class Decided:
    """The outcome of one `decide` call, for the users it was given."""

    routes: dict[str, Route]  # every given user's stored route (decided now, or earlier by any worker)
    new: dict[str, Route]  # the users this call decided (the others had been decided before)
    to_send: dict[str, str]  # socket routes this worker now holds, to send: user -> app id
    devices: int  # device rows written for the push routes
    complete: bool  # every user of the publish is decided now
    first: bool  # this call started the publish


@dataclass(frozen=True, slots=True)
class RoutingCounts:
    socket: int
    push: int
    undelivered: int  # socket routes not sent yet (being sent, or waiting for a dead decider's lease to lapse)


def next_page(targets: Sequence[str], cursor: str | None, size: int) -> list[str]:
    """The `size` users after `cursor`, in sorted order (Python's: the cursor is compared here, never in SQL)."""
    users = sorted(set(targets))
    start = bisect.bisect_right(users, cursor) if cursor is not None else 0
    return users[start : start + size]


class RouteStore:
    def __init__(self, engine: AsyncEngine, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._writer = for_writes(engine)
        self._clock = clock

    async def next_users(self, publish_id: str, size: int) -> list[str] | None:
        """The next users of the publish to decide (maybe none left: `decide({})` then completes it); None
        if the publish is finished, fully decided or gone."""
        query = select(p.targets, p.cursor).where(p.id == publish_id, UNFINISHED, p.expanded == false())
        with translate_errors("reading the users to route"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
        if row is None:
            return None
        return next_page(row.targets, row.cursor, size)

    async def decide(
        self,
        publish_id: str,
        worker_id: str,
        decisions: Mapping[str, Route],
        *,
        lease_seconds: float,
        now: datetime,
    ) -> Decided | None:
        """Record these users' routes (one transaction), unless decided already: the stored route wins. Writes
        the device rows of every push route among them, leases this call's socket routes to `worker_id`, and
        moves the cursor past them. None if the publish is finished, fully decided or gone.

        The first statement marks the publish running: PostgreSQL locks its row, SQLite takes the write lock,
        so deciders of one publish queue and each sees what the previous one stored.
        """
        now = as_utc(now)
        users = sorted(decisions)
        start = (
            update(publishes_table)
            .where(p.id == publish_id, UNFINISHED, p.expanded == false())
            .values(status="running", started_at=func.coalesce(p.started_at, now))
            .returning(p.instance_id, p.targets, p.cursor, p.started_at)
        )
        with translate_errors("routing a publish"):
            async with self._writer.begin() as conn:
                row = (await conn.execute(start)).first()
                if row is None:
                    await conn.rollback()
                    return None
                first = as_utc(row.started_at) == now and row.cursor is None
                new = await self._insert_routes(conn, publish_id, worker_id, decisions, users, lease_seconds, now)
                stored = await self._stored(conn, publish_id, users)
                push = [u for u, route in stored.items() if route.kind == "push"]
                devices = await self._insert_devices(conn, publish_id, row.instance_id, push, now) if push else 0
                cursor = max([c for c in (row.cursor, users[-1] if users else None) if c is not None], default=None)
                complete = not next_page(row.targets, cursor, 1)
                await conn.execute(
                    update(publishes_table).where(p.id == publish_id).values(cursor=cursor, expanded=complete)
                )
        to_send = {u: route.app_id for u, route in new.items() if route.kind == "socket" and route.app_id}
        return Decided(stored, new, to_send, devices, complete, first)

    async def _insert_routes(
        self,
        conn: AsyncConnection,
        publish_id: str,
        worker_id: str,
        decisions: Mapping[str, Route],
        users: Sequence[str],
        lease_seconds: float,
        now: datetime,
    ) -> dict[str, Route]:
        if not users:
            return {}
        lease_until = now + timedelta(seconds=lease_seconds)
        rows = []
        for user in users:
            route = decisions[user]
            socket = route.kind == "socket"
            rows.append({
                "publish_id": publish_id,
                "user_id": user,
                "route": route.kind,
                "app_id": route.app_id if socket else None,
                "decided_at": now,
                "lease_owner": worker_id if socket else None,
                "lease_until": lease_until if socket else None,
                "delivered_at": None,
            })
        # executemany with RETURNING: the users whose row this call wrote (ON CONFLICT skipped the others).
        stmt = _dialect_insert(conn, routes_table).on_conflict_do_nothing().returning(r.user_id)
        written = {row.user_id for row in (await conn.execute(stmt, rows)).all()}
        return {u: decisions[u] for u in users if u in written}

    async def _stored(self, conn: AsyncConnection, publish_id: str, users: Sequence[str]) -> dict[str, Route]:
        if not users:
            return {}
        query = select(r.user_id, r.route, r.app_id).where(r.publish_id == publish_id, r.user_id.in_(users))
        return {row.user_id: Route(row.route, row.app_id) for row in (await conn.execute(query)).all()}

    async def _insert_devices(
        self, conn: AsyncConnection, publish_id: str, instance_id: str, users: Sequence[str], now: datetime
    ) -> int:
        """One pending row per device of these users (INSERT ... SELECT: one round trip, whatever their count)."""
        source = select(
            literal(publish_id, String),
            dev.id,
            dev.platform,
            literal("pending", String),
            literal(0, Integer),
            literal(now, DateTime(timezone=True)),
            literal(now, DateTime(timezone=True)),
        ).where(dev.instance_id == instance_id, dev.user_id.in_(list(users)))
        columns = ["publish_id", "device_id", "platform", "outcome", "attempts", "created_at", "next_at"]
        stmt = (
            _dialect_insert(conn, deliveries_table)
            .from_select(columns, source)
            .on_conflict_do_nothing()
            .returning(d.device_id)
        )
        return len((await conn.execute(stmt)).all())

    async def delivered(self, publish_id: str, worker_id: str, users: Iterable[str], now: datetime) -> int:
        """Mark these socket routes sent (those this worker still holds); returns how many."""
        ids = list(users)
        if not ids:
            return 0
        stmt = (
            update(routes_table)
            .where(
                r.publish_id == publish_id,
                r.user_id.in_(ids),
                r.lease_owner == worker_id,
                r.delivered_at.is_(None),
            )
            .values(delivered_at=as_utc(now), lease_owner=None, lease_until=None)
        )
        with translate_errors("recording socket deliveries"):
            async with self._writer.begin() as conn:
                return (await conn.execute(stmt)).rowcount

    async def claim_stale(
        self, publish_id: str, worker_id: str, *, limit: int, lease_seconds: float, now: datetime
    ) -> dict[str, str]:
        """Lease up to `limit` socket routes of the publish whose sender's lease ran out before it recorded them
        sent (it died, or the bus refused the event): user -> app id, to send again over the socket."""
        now = as_utc(now)
        pick = (
            select(r.user_id)
            .where(r.publish_id == publish_id, stale_socket(now))
            .order_by(r.user_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(routes_table)
            .where(r.publish_id == publish_id, r.user_id.in_(pick.scalar_subquery()), stale_socket(now))
            .values(lease_owner=worker_id, lease_until=now + timedelta(seconds=lease_seconds))
            .returning(r.user_id, r.app_id)
        )
        with translate_errors("claiming socket routes"):
            async with self._writer.begin() as conn:
                return {row.user_id: row.app_id for row in (await conn.execute(stmt)).all()}

    async def release(self, publish_id: str, worker_id: str, users: Iterable[str]) -> int:
        """Give socket routes back at once (the bus refused the event): claimable again by any worker."""
        ids = list(users)
        if not ids:
            return 0
        stmt = (
            update(routes_table)
            .where(r.publish_id == publish_id, r.user_id.in_(ids), r.lease_owner == worker_id,
                   r.delivered_at.is_(None))
            .values(lease_owner=None, lease_until=None)
        )
        with translate_errors("releasing socket routes"):
            async with self._writer.begin() as conn:
                return (await conn.execute(stmt)).rowcount

    async def counts(self, publish_id: str) -> RoutingCounts:
        undelivered = func.sum(case((undelivered_socket(), 1), else_=0))
        query = select(r.route, func.count(), undelivered).where(r.publish_id == publish_id).group_by(r.route)
        with translate_errors("counting routes"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        by_route = {route: int(n) for route, n, _ in rows}
        waiting = sum(int(u or 0) for _, _, u in rows)
        return RoutingCounts(by_route.get("socket", 0), by_route.get("push", 0), waiting)

    async def routes(self, publish_id: str) -> dict[str, RouteKind]:
        """Every decided user of the publish and their route (webhooks, for results emitted elsewhere)."""
        query = select(r.user_id, r.route).where(r.publish_id == publish_id)
        with translate_errors("reading routes"):
            async with self._engine.connect() as conn:
                return {row.user_id: row.route for row in (await conn.execute(query)).all()}


def stale_socket(now: datetime) -> Any:
    """A socket route not sent, whose lease (if any) has run out."""
    return and_(undelivered_socket(), or_(r.lease_until.is_(None), r.lease_until < now))


def undelivered_socket() -> Any:
    return and_(r.route == "socket", r.delivered_at.is_(None))


def _dialect_insert(conn: AsyncConnection, table: Any) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


__all__ = [
    "PUSH",
    "ROUTES",
    "Decided",
    "Route",
    "RouteKind",
    "RouteStore",
    "RoutingCounts",
    "next_page",
    "stale_socket",
    "undelivered_socket",
]

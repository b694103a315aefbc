"""MailboxStore: the offline user mailbox's rows (`user_mailbox`), for one process on SQLite or PostgreSQL.

Only rows: whether an event is kept at all (nobody subscribed), and the atomicity of that decision with a
subscription, are adapters/mailbox.py's. Rows of one user are read back in id order, which is the order they
were added in. `event` and `data` are stored as JSON string literals: an event name or payload may hold a NUL,
which PostgreSQL text refuses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tidings.channels.mailbox import Expired, Kept
from tidings.storage.engine import for_writes, translate_errors
from tidings.storage.schema import user_mailbox as mailbox_table

m = mailbox_table.c

SWEEP_BATCH = 1000  # expired rows deleted per statement: a long-offline crowd never makes one huge transaction


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _seconds(value: datetime) -> float:
    # SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones.
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()


class MailboxStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = for_writes(engine)

    async def add(
        self, app_id: str, user_ids: Sequence[str], entry: Kept, limit: int, now: float
    ) -> dict[str, int]:
        """Append `entry` to each user's mailbox, in one transaction; beyond `limit` entries the oldest are
        deleted. Returns, per user, how many were deleted to make room."""
        row = {"app_id": app_id, "event": _text(entry.event), "data": _text(entry.data),
               "created_at": _at(now), "expires_at": _at(entry.expires_at)}
        dropped: dict[str, int] = {}
        with translate_errors("keeping an event for a user"):
            async with self._writer.begin() as conn:
                await conn.execute(insert(mailbox_table), [{**row, "user_id": u} for u in user_ids])
                for user_id in user_ids:
                    dropped[user_id] = await _trim(conn, app_id, user_id, limit)
        return dropped

    async def take(self, app_id: str, user_id: str) -> list[Kept]:
        """Remove and return every entry of the user's mailbox, oldest first (expired ones included: the
        caller's clock decides). One DELETE ... RETURNING: a concurrent sweep cannot hand out a row twice."""
        stmt = (
            delete(mailbox_table)
            .where(m.app_id == app_id, m.user_id == user_id)
            .returning(m.id, m.event, m.data, m.expires_at)
        )
        with translate_errors("taking a user's kept events"):
            async with self._writer.begin() as conn:
                rows = (await conn.execute(stmt)).all()
        return [Kept(_value(r.event), _value(r.data), _seconds(r.expires_at)) for r in sorted(rows, key=lambda r: r.id)]

    async def put_back(self, app_id: str, user_id: str, entries: Sequence[Kept], limit: int, now: float) -> int:
        """Entries taken for a subscription that did not happen, back in the mailbox (new ids, same order:
        nothing newer can be there, the caller still holds the subscription). Returns how many were dropped
        beyond `limit`."""
        if not entries:
            return 0
        rows = [
            {"app_id": app_id, "user_id": user_id, "event": _text(e.event), "data": _text(e.data),
             "created_at": _at(now), "expires_at": _at(e.expires_at)}
            for e in entries
        ]
        with translate_errors("putting a user's kept events back"):
            async with self._writer.begin() as conn:
                for row in rows:  # one by one: ids follow the list's order
                    await conn.execute(insert(mailbox_table).values(row))
                return await _trim(conn, app_id, user_id, limit)

    async def expire(self, now: float) -> list[Expired]:
        """Delete every entry whose time is up; returns the counts per user."""
        counts: Counter[tuple[str, str]] = Counter()
        due = select(m.id).where(m.expires_at <= _at(now)).order_by(m.expires_at).limit(SWEEP_BATCH)
        with translate_errors("dropping expired kept events"):
            while True:
                async with self._writer.begin() as conn:
                    rows = (
                        await conn.execute(
                            delete(mailbox_table).where(m.id.in_(due.scalar_subquery())).returning(m.app_id, m.user_id)
                        )
                    ).all()
                counts.update((r.app_id, r.user_id) for r in rows)
                if len(rows) < SWEEP_BATCH:
                    break
        return [Expired(app_id, user_id, n) for (app_id, user_id), n in counts.items()]

    async def peek(self, app_id: str, user_id: str, limit: int) -> list[Kept]:
        """The user's first `limit` entries, oldest first, left in place (the console's per-user timeline)."""
        stmt = (
            select(m.event, m.data, m.expires_at)
            .where(m.app_id == app_id, m.user_id == user_id)
            .order_by(m.id)
            .limit(limit)
        )
        with translate_errors("reading a user's kept events"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
        return [Kept(_value(r.event), _value(r.data), _seconds(r.expires_at)) for r in rows]

    async def count(self, app_id: str, user_id: str) -> int:
        """Entries kept for the user (expired ones not yet swept included)."""
        with translate_errors("counting a user's kept events"):
            async with self._engine.connect() as conn:
                n = await conn.scalar(
                    select(func.count()).select_from(mailbox_table).where(m.app_id == app_id, m.user_id == user_id)
                )
        return int(n or 0)


async def _trim(conn: AsyncConnection, app_id: str, user_id: str, limit: int) -> int:
    beyond = (
        select(m.id).where(m.app_id == app_id, m.user_id == user_id).order_by(m.id.desc()).offset(limit)
    )
    result = await conn.execute(delete(mailbox_table).where(m.id.in_(beyond.scalar_subquery())).returning(m.id))
    return len(result.all())


def _text(value: str) -> str:
    return orjson.dumps(value).decode()


def _value(text: str) -> str:
    value = orjson.loads(text)
    assert isinstance(value, str)
    return value

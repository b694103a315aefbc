"""GatewayTokenStore: push gateway credentials shared by every process (`beams_gateway_tokens`).

APNs throttles a signing key whose provider token changes more often than every 20 minutes (429
TooManyProviderTokenUpdates), so processes that each signed their own token would refuse each other's
notifications. One token per key lives here instead, and whoever finds it missing or due installs theirs:

    token = await store.get_or_install("apns:TEAM:KEY:fp", mine, issued_at=now, expires_at=now + hour,
                                       issued_before=now - refresh_after)
    # `token` is mine, or the one another process installed first: either way, everyone uses the same one.

The key names the credential (ids and a fingerprint), never the secret itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tidings.errors import StorageError
from tidings.storage.beams import as_utc
from tidings.storage.engine import for_writes, translate_errors
from tidings.storage.schema import beams_gateway_tokens as tokens_table

t = tokens_table.c


@dataclass(frozen=True, slots=True)
class GatewayToken:
    value: str = field(repr=False)  # a bearer credential: kept out of reprs and logs
    issued_at: datetime
    expires_at: datetime


class GatewayTokenStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = for_writes(engine)  # begin() on it: the transactions that write

    async def get(self, key: str) -> GatewayToken | None:
        with translate_errors("reading a gateway token"):
            async with self._engine.connect() as conn:
                return await _select(conn, key)

    async def get_or_install(
        self,
        key: str,
        value: str,
        *,
        issued_at: datetime,
        expires_at: datetime,
        issued_before: datetime | None = None,
        expires_before: datetime | None = None,
        rejected: str | None = None,
    ) -> GatewayToken:
        """The token stored for `key`; `value` is stored (and returned) instead when there is none, or the
        stored one was issued before `issued_before`, expires before `expires_before`, or is `rejected`
        (the gateway refused it).

        Atomic, so racing processes agree on one token: INSERT ... ON CONFLICT DO UPDATE ... WHERE, then
        SELECT, in one transaction. PostgreSQL: a concurrent insert of the same key waits for the first
        one to commit and then re-checks the WHERE against it (now fresh: no update); the SELECT, a new
        snapshot under READ COMMITTED, reads the winner's token. SQLite: the INSERT takes the database
        write lock, so the two run one after the other.
        """
        row = {"key": key, "value": value, "issued_at": as_utc(issued_at), "expires_at": as_utc(expires_at)}
        due: list[ColumnElement[bool]] = []
        if issued_before is not None:
            due.append(t.issued_at < as_utc(issued_before))
        if expires_before is not None:
            due.append(t.expires_at < as_utc(expires_before))
        if rejected is not None:
            due.append(t.value == rejected)
        dialect_insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        insert = dialect_insert(tokens_table).values(row)
        if due:
            stmt = insert.on_conflict_do_update(
                index_elements=[t.key],
                set_={
                    "value": insert.excluded.value,
                    "issued_at": insert.excluded.issued_at,
                    "expires_at": insert.excluded.expires_at,
                },
                where=or_(*due),
            )
        else:
            stmt = insert.on_conflict_do_nothing(index_elements=[t.key])
        with translate_errors("saving a gateway token"):
            async with self._writer.begin() as conn:
                await conn.execute(stmt)
                stored = await _select(conn, key)
        if stored is None:  # only if someone deleted the row between the two statements
            raise StorageError(f"gateway token {key!r} vanished while being saved")
        return stored


async def _select(conn: AsyncConnection, key: str) -> GatewayToken | None:
    row = (await conn.execute(select(t.value, t.issued_at, t.expires_at).where(t.key == key))).first()
    if row is None:
        return None
    return GatewayToken(row.value, as_utc(row.issued_at), as_utc(row.expires_at))

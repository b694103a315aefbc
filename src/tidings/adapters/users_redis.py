"""The Redis half of adapters/users.py (mixed into RedisAdapter); the keys are listed in users_scripts.py."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from tidings.adapters import users_scripts as s
from tidings.adapters.redis_errors import unavailable
from tidings.adapters.users import MembersPage, OnlineUser, UserPresence, UsersPage


class RedisUserState:
    # RedisAdapter's.
    _redis: aioredis.Redis
    _mine: str
    prefix: str
    # Ours.
    _user_scripts: dict[str, Any]

    def init_user_state(self) -> None:
        r = self._redis
        self._user_scripts = {
            name: r.register_script(getattr(s, name))
            for name in ("ADMIT", "RELEASE", "TRACK", "UNTRACK", "RATE", "USERS_PAGE", "CLEANUP_USERS")
        }

    def _app_key(self, app_id: str) -> str:
        return f"{self.prefix}:a:{app_id}"

    async def admit(self, app_id: str, limit: int) -> bool:
        with unavailable():
            ok = await self._user_scripts["ADMIT"](
                keys=[f"{self._app_key(app_id)}:conns", f"{self._mine}:conns"], args=[limit, app_id]
            )
        return bool(ok)

    async def release(self, app_id: str) -> None:
        with unavailable():
            await self._user_scripts["RELEASE"](
                keys=[f"{self._app_key(app_id)}:conns", f"{self._mine}:conns"], args=[app_id]
            )

    async def track_connection(self, app_id: str, user_id: str, socket_id: str, limit: int) -> list[str]:
        with unavailable():
            out = await self._user_scripts["TRACK"](
                keys=[f"{self._app_key(app_id)}:uc:{user_id}", f"{self._mine}:uc"],
                args=[socket_id, limit, f"{app_id}\n{socket_id}\n{user_id}"],
            )
        return [str(sid) for sid in out]

    async def untrack_connection(self, app_id: str, user_id: str, socket_id: str) -> None:
        with unavailable():
            await self._user_scripts["UNTRACK"](
                keys=[f"{self._app_key(app_id)}:uc:{user_id}", f"{self._mine}:uc"],
                args=[socket_id, f"{app_id}\n{socket_id}\n{user_id}"],
            )

    async def client_event_allowed(self, app_id: str, user_id: str, limit: int) -> bool:
        with unavailable():
            ok = await self._user_scripts["RATE"](keys=[f"{self._app_key(app_id)}:rate:{user_id}"], args=[limit])
        return bool(ok)

    async def online_users(self, app_id: str, cursor: str | None, limit: int) -> UsersPage:
        a = self._app_key(app_id)
        with unavailable():
            ids, counts, total = await self._user_scripts["USERS_PAGE"](
                keys=[f"{a}:online", f"{a}:users"], args=["-" if cursor is None else f"({cursor}", limit]
            )
        more = len(ids) > limit
        users = [OnlineUser(str(u), int(n or 0)) for u, n in zip(ids[:limit], counts[:limit], strict=True)]
        return UsersPage(users, users[-1].user_id if more else None, int(total))

    async def user_presence(self, app_id: str, user_id: str) -> UserPresence | None:
        a = self._app_key(app_id)
        with unavailable():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hget(f"{a}:users", user_id)
                pipe.hget(f"{a}:since", user_id)
                n, since = await pipe.execute()
        if n is None or int(n) <= 0:
            return None
        return UserPresence(int(n), float(since or 0.0))

    async def members_page(self, app_id: str, channel: str, cursor: str | None, limit: int) -> MembersPage:
        # A roster is bounded by max_presence_members: one HKEYS and a sort are cheaper than keeping an index.
        with unavailable():
            ids = sorted(str(u) for u in await self._redis.hkeys(f"{self._app_key(app_id)}:pi:{channel}"))
        start = 0 if cursor is None else next((i for i, u in enumerate(ids) if u > cursor), len(ids))
        page = ids[start : start + limit]
        return MembersPage(page, page[-1] if start + limit < len(ids) else None, len(ids))

    async def clean_user_state(self, node: str) -> None:
        """Take a node's share out of the quota counters and the users' connection sets."""
        base = f"{self.prefix}:n:{node}"
        await self._user_scripts["CLEANUP_USERS"](keys=[f"{base}:uc", f"{base}:conns"], args=[self.prefix])

"""The Redis adapter: shared counts, rosters, users and cache in Redis; one pub/sub channel as the bus.

Keys (prefix `p`, default "tidings"):
  p:bus                         pub/sub channel for every inter-node message (JSON, carries its origin)
  p:nodes                       ZSET node id -> last heartbeat (Redis time)
  p:a:<app>:counts              HASH channel -> subscriptions across the cluster
  p:a:<app>:pn:<channel>        HASH user -> sockets in that presence channel
  p:a:<app>:pi:<channel>        HASH user -> user_info (JSON)
  p:a:<app>:users               HASH user -> signed-in connections
  p:a:<app>:cache:<channel>     STRING the last event of a cache channel, with a TTL
  p:n:<node>:{counts,presence,users}  this node's share of the three counters above (see scripts.py)
  p:cleanup:<node>              SET NX lock: one survivor cleans a dead node

Not for Redis Cluster: scripts touch keys they compute (one Redis, or a primary with replicas/Sentinel).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tidings.adapters import bus, scripts
from tidings.adapters.base import (
    AdapterUnavailable,
    Cached,
    ChannelInfo,
    Joined,
    Left,
    Member,
    Message,
    Sink,
)

log = logging.getLogger("tidings.adapters.redis")


class RedisAdapter:
    shared = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "tidings",
        cache_ttl: float = 1800.0,
        heartbeat_interval: float = 2.0,
        dead_after: float = 10.0,
        node_id: str | None = None,
    ) -> None:
        self.node_id = node_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.prefix = prefix
        self.heartbeat_interval = heartbeat_interval
        self.dead_after = dead_after
        self._cache_ms = max(1, int(cache_ttl * 1000))
        self._redis: aioredis.Redis = aioredis.from_url(url, decode_responses=True)
        self._bus = f"{prefix}:bus"
        self._nodes = f"{prefix}:nodes"
        self._mine = f"{prefix}:n:{self.node_id}"
        r = self._redis
        self._join = r.register_script(scripts.JOIN)
        self._leave = r.register_script(scripts.LEAVE)
        self._sign_in = r.register_script(scripts.SIGN_IN)
        self._sign_out = r.register_script(scripts.SIGN_OUT)
        self._heartbeat = r.register_script(scripts.HEARTBEAT)
        self._dead = r.register_script(scripts.DEAD)
        self._cleanup = r.register_script(scripts.CLEANUP)
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._seq = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._sink: Sink | None = None
        self.cleaned: list[str] = []  # dead nodes this node cleaned up (for tests and logs)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, sink: Sink) -> None:
        self._sink = sink
        pubsub: Any = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await self._heartbeat(keys=[self._nodes], args=[self.node_id])
            # Subscribed before start() returns: nothing published after this node serves is missed.
            await pubsub.subscribe(self._bus)
        except (RedisError, OSError) as exc:
            await pubsub.aclose()
            await self._redis.aclose()
            raise AdapterUnavailable(f"Redis is not reachable: {exc}") from exc
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read(pubsub)),
            loop.create_task(self._write()),
            loop.create_task(self._beat()),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # A clean stop leaves nothing for the survivors to clean: take our share back now.
        with contextlib.suppress(RedisError, OSError):
            await self._clean(self.node_id, announce=True)
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    # -- the bus ---------------------------------------------------------------------------------

    def broadcast(self, message: Message) -> None:
        self._seq += 1
        self._outbox.put_nowait(bus.encode(message, self.node_id, self._seq))

    async def _write(self) -> None:
        while True:
            first = await self._outbox.get()
            batch = [first]
            while not self._outbox.empty() and len(batch) < 500:
                batch.append(self._outbox.get_nowait())
            try:
                # One pipeline for what queued up meanwhile: one round trip, order kept.
                async with self._redis.pipeline(transaction=False) as pipe:
                    for body in batch:
                        pipe.publish(self._bus, body)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning("redis publish failed, %d bus message(s) lost: %s", len(batch), exc)

    async def _read(self, pubsub: Any) -> None:
        while True:
            try:
                async for item in pubsub.listen():
                    if item.get("type") != "message":
                        continue
                    try:
                        envelope = bus.decode(item["data"])
                    except bus.BadMessage as exc:
                        log.warning("dropped a malformed bus message: %s", exc)
                        continue
                    if envelope.node != self.node_id and self._sink is not None:
                        self._sink(envelope.message, False)
            except (RedisError, OSError) as exc:
                log.warning("redis bus subscription lost (%s); resubscribing", exc)
                await asyncio.sleep(1.0)
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.subscribe(self._bus)

    # -- heartbeats and dead nodes -------------------------------------------------------------

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                if await self._heartbeat(keys=[self._nodes], args=[self.node_id]):
                    # We were declared dead (paused, partitioned) and our share was subtracted: our local
                    # state no longer matches the shared one, so the hub drops every connection.
                    log.error("this node was declared dead by the cluster; dropping its connections")
                    if self._sink is not None:
                        self._sink(bus.Reset(), True)
                for node in await self._dead(keys=[self._nodes], args=[self.dead_after]):
                    if node != self.node_id and await self._redis.set(
                        f"{self.prefix}:cleanup:{node}", self.node_id, nx=True, ex=60
                    ):
                        await self._clean(node, announce=True)
            except (RedisError, OSError) as exc:
                log.warning("redis heartbeat failed: %s", exc)

    async def _clean(self, node: str, *, announce: bool) -> None:
        base = f"{self.prefix}:n:{node}"
        out = await self._cleanup(
            keys=[self._nodes, f"{base}:counts", f"{base}:presence", f"{base}:users"], args=[self.prefix, node]
        )
        if node != self.node_id:
            log.warning("node %s is dead: removed its %d presence/count/user entries", node, len(out) // 4)
            self.cleaned.append(node)
        if not announce:
            return
        for i in range(0, len(out), 4):
            kind, app, a, b = out[i : i + 4]
            message: Message
            if kind == "m":
                message = bus.MemberRemoved(app, a, b)
            elif kind == "c":
                message = bus.Count(app, a, int(b))
            else:
                message = bus.UserStatus(app, a, online=False)
            if node != self.node_id and self._sink is not None:
                self._sink(message, True)  # this node's clients too; it emits the webhooks
            self.broadcast(message)
        if node == self.node_id and out:
            await self._flush()

    async def _flush(self) -> None:
        """Publish what is queued now (used at close, when the writer task is gone)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            while not self._outbox.empty():
                pipe.publish(self._bus, self._outbox.get_nowait())
            await pipe.execute()

    # -- shared state --------------------------------------------------------------------------

    def _a(self, app_id: str) -> str:
        return f"{self.prefix}:a:{app_id}"

    async def join(self, app_id: str, channel: str, member: Member | None, cache: bool) -> Joined:
        a = self._a(app_id)
        user = member.user_id if member is not None else ""
        info = orjson.dumps(member.user_info).decode() if member is not None else ""
        try:
            count, first, full, flat, cached, ttl = await self._join(
                keys=[f"{a}:counts", f"{self._mine}:counts", f"{a}:pn:{channel}", f"{a}:pi:{channel}",
                      f"{self._mine}:presence", f"{a}:cache:{channel}"],
                args=[channel, f"{app_id}\n{channel}", "1" if member else "0", user, info,
                      member.limit if member else 0, f"{app_id}\n{channel}\n{user}", "1" if cache else "0"],
            )
        except (RedisError, OSError) as exc:
            raise AdapterUnavailable(str(exc)) from exc
        if full:
            return Joined(int(count), full=True)
        members = {flat[i]: orjson.loads(flat[i + 1]) for i in range(0, len(flat), 2)}
        return Joined(int(count), bool(first), False, members, _cached(cached, ttl))

    async def leave(self, app_id: str, channel: str, user_id: str | None) -> Left:
        a = self._a(app_id)
        user = user_id or ""
        try:
            count, last, vacated = await self._leave(
                keys=[f"{a}:counts", f"{self._mine}:counts", f"{a}:pn:{channel}", f"{a}:pi:{channel}",
                      f"{self._mine}:presence"],
                args=[channel, f"{app_id}\n{channel}", "1" if user_id is not None else "0", user,
                      f"{app_id}\n{channel}\n{user}"],
            )
        except (RedisError, OSError) as exc:
            raise AdapterUnavailable(str(exc)) from exc
        return Left(int(count), bool(last), bool(vacated))

    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        flat = await self._redis.hgetall(f"{self._a(app_id)}:pi:{channel}")
        return {str(uid): orjson.loads(info) for uid, info in flat.items()}

    async def channels(self, app_id: str) -> dict[str, int]:
        flat = await self._redis.hgetall(f"{self._a(app_id)}:counts")
        return {str(name): int(n) for name, n in flat.items() if int(n) > 0}

    async def channel(self, app_id: str, channel: str) -> ChannelInfo:
        a = self._a(app_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(f"{a}:counts", channel)
            pipe.hlen(f"{a}:pn:{channel}")
            count, users = await pipe.execute()
        return ChannelInfo(int(count or 0), int(users))

    async def sign_in(self, app_id: str, user_id: str, watchlist: tuple[str, ...]) -> tuple[bool, set[str]]:
        try:
            first, online = await self._sign_in(
                keys=[f"{self._a(app_id)}:users", f"{self._mine}:users"],
                args=[user_id, f"{app_id}\n{user_id}", *watchlist],
            )
        except (RedisError, OSError) as exc:
            raise AdapterUnavailable(str(exc)) from exc
        return bool(first), set(online)

    async def online(self, app_id: str, user_ids: tuple[str, ...]) -> set[str]:
        if not user_ids:
            return set()
        try:
            counts = await self._redis.hmget(f"{self._a(app_id)}:users", list(user_ids))
        except (RedisError, OSError) as exc:
            raise AdapterUnavailable(str(exc)) from exc
        return {u for u, n in zip(user_ids, counts, strict=True) if n is not None and int(n) > 0}

    async def sign_out(self, app_id: str, user_id: str) -> bool:
        try:
            last = await self._sign_out(
                keys=[f"{self._a(app_id)}:users", f"{self._mine}:users"], args=[user_id, f"{app_id}\n{user_id}"]
            )
        except (RedisError, OSError) as exc:
            raise AdapterUnavailable(str(exc)) from exc
        return bool(last)

    async def set_cached(self, app_id: str, channel: str, event: str, data: str) -> None:
        body = orjson.dumps([event, data]).decode()
        await self._redis.set(f"{self._a(app_id)}:cache:{channel}", body, px=self._cache_ms)

    async def cached(self, app_id: str, channel: str) -> Cached | None:
        key = f"{self._a(app_id)}:cache:{channel}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            body, ttl = await pipe.execute()
        return _cached(body or "", ttl)


def _cached(body: str, ttl_ms: int) -> Cached | None:
    if not body or ttl_ms <= 0:
        return None
    event, data = orjson.loads(body)
    return Cached(event, data, ttl_ms / 1000)




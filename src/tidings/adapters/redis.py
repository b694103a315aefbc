"""The Redis adapter: shared counts, rosters, users and cache in Redis; one pub/sub channel as the bus.

Keys (prefix `p`, default "tidings"):
  p:bus                         pub/sub channel for every inter-node message (JSON, carries its origin)
  p:nodes                       ZSET node id -> last heartbeat (Redis time)
  p:a:<app>:counts              HASH channel -> subscriptions across the cluster
  p:a:<app>:pn:<channel>        HASH user -> sockets in that presence channel
  p:a:<app>:pi:<channel>        HASH user -> user_info (JSON)
  p:a:<app>:users               HASH user -> signed-in connections
  p:a:<app>:online              ZSET user (score 0): the users hash's keys in order, to page through them
  p:a:<app>:since               HASH user -> Unix time their first current connection signed in
  (users_scripts.py lists the keys of the per-user guard rails and the cluster-wide connection quota)
  p:a:<app>:cache:<channel>     STRING the last event of a cache channel, with a TTL
  p:n:<node>:{counts,presence,users}  this node's share of the three counters above (see scripts.py)
  p:cleanup:<node>              SET NX lock: one survivor cleans a dead node
  p:a:<app>:mb:<user>, p:mailboxes  the offline user mailbox (adapters/mailbox_redis.py, its own client)

Not for Redis Cluster: scripts touch keys they compute (one Redis, or a primary with replicas/Sentinel).

Outages (docs/scale-out.md, "Outages"): every command has a timeout and fails as AdapterUnavailable; bus
messages that could not be published wait in a bounded buffer and are retried in order, and receivers drop
what they have already seen (origin node + sequence); a node declares others dead only after its own
heartbeats have gone through for `dead_after`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Sequence
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
from tidings.adapters.redis_errors import unavailable
from tidings.adapters.users_redis import RedisUserState

log = logging.getLogger("tidings.adapters.redis")

BATCH = 500  # bus messages per publish pipeline
RETRY_FIRST, RETRY_MAX = 0.1, 1.0  # backoff between publish attempts while Redis does not answer
SEEN_ORIGINS = 1024  # nodes whose last sequence a receiver remembers (ids are per process: old ones go stale)



def _keepalive_options() -> dict[int, int]:
    # Probe an idle connection after 10 s, every 5 s, give up after 3 misses (Linux names; others: defaults).
    wanted = {"TCP_KEEPIDLE": 10, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3}
    return {getattr(socket, name): v for name, v in wanted.items() if hasattr(socket, name)}


class RedisAdapter(RedisUserState):
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
        timeout: float = 3.0,
        buffer_messages: int = 10_000,
        buffer_bytes: int = 16 * 2**20,
    ) -> None:
        self.node_id = node_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.prefix = prefix
        self.heartbeat_interval = heartbeat_interval
        self.dead_after = dead_after
        self.timeout = timeout
        self._cache_ms = max(1, int(cache_ttl * 1000))
        # Commands: every read and connect bounded by `timeout` (under the Pusher SDKs' 5 s default, so an
        # API call answers 503 before its client gives up), and no retries inside redis-py: callers fail
        # fast, and the bus retries on its own.
        self._redis: aioredis.Redis = aioredis.from_url(
            url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        # The bus subscription gets a client of its own WITHOUT a read timeout: it is idle whenever nothing
        # happens, and (depending on the redis-py version) a read timeout would break it and lose what was
        # published until it is resubscribed. A paused Redis keeps it intact (the subscription is still there
        # when Redis answers again); a vanished host is noticed by TCP keepalive (~25 s), which the kernel of
        # a live-but-paused Redis still answers, so a pause never breaks it.
        self._sub: aioredis.Redis = aioredis.from_url(
            url, decode_responses=True, socket_timeout=None, socket_connect_timeout=timeout,
            socket_keepalive=True, socket_keepalive_options=_keepalive_options(),
        )
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
        self.init_user_state()
        # Bus messages not yet confirmed by Redis, oldest first; removed only once a publish went through.
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._max_messages = buffer_messages
        self._max_bytes = buffer_bytes
        self._wake = asyncio.Event()
        self._seq = 0
        self._seen: dict[str, int] = {}  # origin node -> last sequence received from it
        self.duplicates = 0  # bus messages received again and dropped (for tests and logs)
        self._beating_since: float | None = None  # start of this node's current run of good heartbeats
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._sink: Sink | None = None
        self.cleaned: list[str] = []  # dead nodes this node cleaned up (for tests and logs)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, sink: Sink) -> None:
        self._sink = sink
        pubsub: Any = self._sub.pubsub(ignore_subscribe_messages=True)
        loop = asyncio.get_running_loop()
        try:
            await self._heartbeat(keys=[self._nodes], args=[self.node_id])
            self._beating_since = loop.time()
            # Subscribed before start() returns: nothing published after this node serves is missed.
            async with asyncio.timeout(self.timeout):
                await pubsub.subscribe(self._bus)
        except (RedisError, OSError) as exc:  # asyncio's TimeoutError is an OSError
            await pubsub.aclose()
            await self._sub.aclose()
            await self._redis.aclose()
            raise AdapterUnavailable(f"Redis is not reachable: {exc or 'timed out'}") from exc
        self._tasks = [
            loop.create_task(self._read(pubsub)),
            loop.create_task(self._write()),
            loop.create_task(self._beat()),
        ]

    async def close(self) -> None:
        # The flag as well as cancel(): redis-py can swallow a cancellation that lands inside one of its
        # calls, and a loop that goes on would then hold close() up forever. So the loops also stop on
        # the flag, the writer is woken to see it, and the wait is bounded whatever happens.
        self._closing = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=self.timeout + 1)
            for task in stuck:
                log.warning("closing: %s did not stop", task.get_coro())
                task.cancel()
        # A clean stop leaves nothing for the survivors to clean: take our share back now.
        with contextlib.suppress(RedisError, OSError, AdapterUnavailable):
            await self._clean(self.node_id, announce=True)
        try:
            await self._flush()
        except (RedisError, OSError) as exc:
            log.warning("closing with Redis unreachable: %d bus message(s) not sent: %s", len(self._pending), exc)
        await self._sub.aclose()
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    # -- the bus: sending ----------------------------------------------------------------------

    def broadcast(self, message: Message) -> None:
        """Queue for every other node. Raises AdapterUnavailable (and queues nothing) when the buffer of
        unsent messages is full: Redis has not answered for a while and nothing more can be promised."""
        body = bus.encode(message, self.node_id, self._seq + 1)
        if len(self._pending) >= self._max_messages or self._pending_bytes + len(body) > self._max_bytes:
            raise AdapterUnavailable(
                f"Redis has not taken the last {len(self._pending)} bus messages "
                f"({self._pending_bytes} bytes); refusing more until it does"
            )
        self._seq += 1  # only for a queued message: receivers see one gapless sequence per node
        self._pending.append(body)
        self._pending_bytes += len(body)
        self._wake.set()

    @property
    def pending(self) -> int:
        """Bus messages waiting for Redis (queued or being published)."""
        return len(self._pending)

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        failing_since: float | None = None
        backoff = RETRY_FIRST
        while not self._closing:  # at close, what is left is published by _flush()
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            # Always from the oldest unconfirmed message: every attempt is a run of consecutive sequence
            # numbers starting at the same place, so whatever mix of attempts reaches Redis (one that timed
            # out may still arrive), receivers that drop seq <= last see each message once, in order.
            batch = list(itertools.islice(self._pending, BATCH))
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for body in batch:
                        pipe.publish(self._bus, body)
                    await pipe.execute()
            except Exception as exc:  # not only Redis' errors: this task must outlive anything
                if not isinstance(exc, RedisError | OSError):
                    log.exception("publishing bus messages failed unexpectedly; retrying")
                if failing_since is None:
                    failing_since = loop.time()
                    log.warning("redis publish failed (%s); keeping %d bus message(s), retrying until it answers",
                                exc or type(exc).__name__, len(self._pending))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX)
                continue
            for body in batch:
                self._pending.popleft()
                self._pending_bytes -= len(body)
            if failing_since is not None:
                log.warning("redis publish works again after %.1f s; %d bus message(s) still queued",
                            loop.time() - failing_since, len(self._pending))
                failing_since, backoff = None, RETRY_FIRST

    async def _flush(self) -> None:
        """Publish what is still pending (at close, when the writer task is gone)."""
        if not self._pending:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for body in self._pending:
                pipe.publish(self._bus, body)
            await pipe.execute()
        self._pending.clear()
        self._pending_bytes = 0

    # -- the bus: receiving --------------------------------------------------------------------

    async def _read(self, pubsub: Any) -> None:
        while not self._closing:
            try:
                async for item in pubsub.listen():
                    if item.get("type") == "message":
                        self._receive(item["data"])
            except (RedisError, OSError) as exc:
                if self._closing:
                    return
                log.warning("redis bus subscription lost (%s); resubscribing", exc)
                await asyncio.sleep(1.0)
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.subscribe(self._bus)

    def _receive(self, body: str | bytes) -> None:
        try:
            envelope = bus.decode(body)
        except bus.BadMessage as exc:
            log.warning("dropped a malformed bus message: %s", exc)
            return
        origin = envelope.node
        if origin == self.node_id:
            return
        last = self._seen.pop(origin, None)  # popped and put back: the dict stays in least-recent order
        if last is not None and envelope.seq <= last:
            self._seen[origin] = last  # a retried publish that had reached Redis the first time
            self.duplicates += 1
            return
        if last is not None and envelope.seq > last + 1:
            # Only a subscription that broke can do this (Redis pub/sub keeps nothing for the absent).
            log.warning("missed %d bus message(s) from node %s", envelope.seq - last - 1, origin)
        self._seen[origin] = envelope.seq
        if len(self._seen) > SEEN_ORIGINS:
            del self._seen[next(iter(self._seen))]
        if self._sink is not None:
            try:
                self._sink(envelope.message, False)
            except Exception:  # a handler's bug must not end the subscription for every later message
                log.exception("handling a %s bus message failed", envelope.message.TAG)

    # -- heartbeats and dead nodes -------------------------------------------------------------

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        failing_since: float | None = None
        # A heartbeat slower than this means Redis stalled: the other nodes' beats were held up as well.
        slow = max(0.0, self.dead_after - self.heartbeat_interval) / 2
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            if self._closing:
                return
            began = loop.time()
            try:
                declared_dead = await self._heartbeat(keys=[self._nodes], args=[self.node_id])
            except (RedisError, OSError) as exc:
                self._beating_since = None
                if failing_since is None:
                    failing_since = began
                    log.warning("redis heartbeat failed: %s", exc or type(exc).__name__)
                continue
            now = loop.time()
            if failing_since is not None:
                log.warning("redis heartbeat works again after %.1f s", now - failing_since)
                failing_since = None
            if self._beating_since is None or now - began > slow:
                self._beating_since = now
            if declared_dead:
                # We were declared dead (paused, partitioned) and our share was subtracted: our local
                # state no longer matches the shared one, so the hub drops every connection.
                log.error("this node was declared dead by the cluster; dropping its connections")
                if self._sink is not None:
                    self._sink(bus.Reset(), True)
            # After an outage every node's last heartbeat is old. Only once ours have gone through for
            # `dead_after` has every live node had the time to beat again: before that, stale means nothing.
            if now - self._beating_since < self.dead_after:
                continue
            try:
                for node in await self._dead(keys=[self._nodes], args=[self.dead_after]):
                    if node != self.node_id and await self._redis.set(
                        f"{self.prefix}:cleanup:{node}", self.node_id, nx=True, ex=60
                    ):
                        await self._clean(node, announce=True)
            except (RedisError, OSError) as exc:
                log.warning("redis dead-node check failed: %s", exc or type(exc).__name__)

    async def _clean(self, node: str, *, announce: bool) -> None:
        base = f"{self.prefix}:n:{node}"
        out = await self._cleanup(
            keys=[self._nodes, f"{base}:counts", f"{base}:presence", f"{base}:users"], args=[self.prefix, node]
        )
        await self.clean_user_state(node)
        if node != self.node_id:
            log.warning("node %s is dead: removed its %d presence/count/user entries", node, len(out) // 4)
            self.cleaned.append(node)
        if not announce:
            return
        dropped = 0
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
            try:
                self.broadcast(message)
            except AdapterUnavailable:
                dropped += 1
        if dropped:
            log.warning("bus buffer full: %d transition(s) of node %s not announced to other nodes", dropped, node)

    # -- shared state --------------------------------------------------------------------------

    def _a(self, app_id: str) -> str:
        return f"{self.prefix}:a:{app_id}"

    async def join(self, app_id: str, channel: str, member: Member | None, cache: bool) -> Joined:
        a = self._a(app_id)
        user = member.user_id if member is not None else ""
        info = orjson.dumps(member.user_info).decode() if member is not None else ""
        roster_up_to = -1 if member is None or member.roster_up_to is None else member.roster_up_to
        with unavailable():
            count, first, full, flat, cached, ttl, member_count = await self._join(
                keys=[f"{a}:counts", f"{self._mine}:counts", f"{a}:pn:{channel}", f"{a}:pi:{channel}",
                      f"{self._mine}:presence", f"{a}:cache:{channel}"],
                args=[channel, f"{app_id}\n{channel}", "1" if member else "0", user, info,
                      member.limit if member else 0, f"{app_id}\n{channel}\n{user}", "1" if cache else "0",
                      roster_up_to],
            )
        if full:
            return Joined(int(count), full=True, member_count=int(member_count))
        members = {flat[i]: orjson.loads(flat[i + 1]) for i in range(0, len(flat), 2)}
        return Joined(int(count), bool(first), False, members, _cached(cached, ttl), int(member_count))

    async def leave(self, app_id: str, channel: str, user_id: str | None) -> Left:
        a = self._a(app_id)
        user = user_id or ""
        with unavailable():
            count, last, vacated, member_count = await self._leave(
                keys=[f"{a}:counts", f"{self._mine}:counts", f"{a}:pn:{channel}", f"{a}:pi:{channel}",
                      f"{self._mine}:presence"],
                args=[channel, f"{app_id}\n{channel}", "1" if user_id is not None else "0", user,
                      f"{app_id}\n{channel}\n{user}"],
            )
        return Left(int(count), bool(last), bool(vacated), int(member_count))

    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        with unavailable():
            flat = await self._redis.hgetall(f"{self._a(app_id)}:pi:{channel}")
        return {str(uid): orjson.loads(info) for uid, info in flat.items()}

    async def channels(self, app_id: str) -> dict[str, int]:
        with unavailable():
            flat = await self._redis.hgetall(f"{self._a(app_id)}:counts")
        return {str(name): int(n) for name, n in flat.items() if int(n) > 0}

    async def channel(self, app_id: str, channel: str) -> ChannelInfo:
        a = self._a(app_id)
        with unavailable():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hget(f"{a}:counts", channel)
                pipe.hlen(f"{a}:pn:{channel}")
                count, users = await pipe.execute()
        return ChannelInfo(int(count or 0), int(users))

    async def subscribed(self, app_id: str, channels: Sequence[str]) -> set[str]:
        if not channels:
            return set()
        names = list(channels)
        with unavailable():
            counts = await self._redis.hmget(f"{self._a(app_id)}:counts", names)
        return {ch for ch, n in zip(names, counts, strict=True) if n is not None and int(n) > 0}

    async def sign_in(self, app_id: str, user_id: str, watchlist: tuple[str, ...]) -> tuple[bool, set[str]]:
        with unavailable():
            a = self._a(app_id)
            first, online = await self._sign_in(
                keys=[f"{a}:users", f"{self._mine}:users", f"{a}:online", f"{a}:since"],
                args=[user_id, f"{app_id}\n{user_id}", *watchlist],
            )
        return bool(first), set(online)

    async def online(self, app_id: str, user_ids: tuple[str, ...]) -> set[str]:
        if not user_ids:
            return set()
        with unavailable():
            counts = await self._redis.hmget(f"{self._a(app_id)}:users", list(user_ids))
        return {u for u, n in zip(user_ids, counts, strict=True) if n is not None and int(n) > 0}

    async def sign_out(self, app_id: str, user_id: str) -> bool:
        with unavailable():
            a = self._a(app_id)
            last = await self._sign_out(
                keys=[f"{a}:users", f"{self._mine}:users", f"{a}:online", f"{a}:since"],
                args=[user_id, f"{app_id}\n{user_id}"],
            )
        return bool(last)

    async def set_cached(self, app_id: str, channel: str, event: str, data: str) -> None:
        body = orjson.dumps([event, data]).decode()
        with unavailable():
            await self._redis.set(f"{self._a(app_id)}:cache:{channel}", body, px=self._cache_ms)

    async def cached(self, app_id: str, channel: str) -> Cached | None:
        key = f"{self._a(app_id)}:cache:{channel}"
        with unavailable():
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

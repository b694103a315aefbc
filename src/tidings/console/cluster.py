"""The console across nodes, through Redis: live records while a console is open anywhere, and timelines.

Keys and channels (prefix `p`, the adapter's `redis_prefix`):

    p:console:open            STRING  set (with a TTL of `announce_ttl`) by every node that has a view open,
                                      renewed every `check_every` seconds while it does
    p:console:ctl             pub/sub "open": a node just opened its first view (others start forwarding at once
                                      instead of at their next check)
    p:console:events          pub/sub a batch of records: the node id, then one JSON record per line
    p:console:t:<product>:<scope>:<user>   LIST a user's timeline, newest first, trimmed and expiring

Cost when no console is open anywhere: every node checks the key once per `check_every` seconds and keeps an idle
subscription; no record is built or sent (Console.active is False). While one is open, each node publishes its
records in batches; what Redis cannot take fast enough is dropped past `max_pending` records and counted, never
queued without bound. Timelines are written by the node where the event happened, in pipelined batches, with
the same bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tidings.adapters.base import AdapterUnavailable
from tidings.console.core import Console
from tidings.console.timeline import PER_USER, Key

log = logging.getLogger("tidings.console")

ANNOUNCE_TTL = 10.0
CHECK_EVERY = 2.0
MAX_PENDING = 10_000
BATCH = 200
TIMELINE_TTL = 7 * 86400


class _Writer:
    """A bounded queue of bytes drained by one task in batches; overflow is dropped and counted."""

    def __init__(self, max_pending: int) -> None:
        self._pending: deque[Any] = deque()
        self._max = max_pending
        self._wake = asyncio.Event()
        self.dropped = 0

    def put(self, item: Any) -> None:
        if len(self._pending) >= self._max:
            self.dropped += 1
            return
        self._pending.append(item)
        self._wake.set()

    async def batches(self) -> Any:
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))]
            yield batch


class RedisConsole:
    """The relay (console/core.py `Relay`) and the timeline (`Timeline`) of one node, on one Redis."""

    def __init__(
        self, url: str, *, prefix: str, node: str, timeout: float = 3.0, announce_ttl: float = ANNOUNCE_TTL,
        check_every: float = CHECK_EVERY, max_pending: int = MAX_PENDING, per_user: int = PER_USER,
        timeline_ttl: int = TIMELINE_TTL,
    ) -> None:
        self.node = node
        self.timeout = timeout
        self.announce_ttl = announce_ttl
        self.check_every = check_every
        self.per_user = per_user
        self.timeline_ttl = timeline_ttl
        self._redis: aioredis.Redis = aioredis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._sub: aioredis.Redis = aioredis.from_url(url, socket_timeout=None, socket_connect_timeout=timeout)
        self._key = f"{prefix}:console:open"
        self._ctl = f"{prefix}:console:ctl"
        self._events = f"{prefix}:console:events"
        self._timeline = f"{prefix}:console:t"
        self._records = _Writer(max_pending)
        self._entries = _Writer(max_pending)
        self._forwarding = False
        self._open_here = 0
        self._check = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.console: Console | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self, console: Console) -> None:
        self.console = console
        pubsub: Any = self._sub.pubsub(ignore_subscribe_messages=True)
        try:
            async with asyncio.timeout(self.timeout):
                await pubsub.subscribe(self._ctl, self._events)
                self._forwarding = bool(await self._redis.exists(self._key))
        except (RedisError, OSError) as exc:
            await pubsub.aclose()
            raise AdapterUnavailable(f"Redis is not reachable for the console: {exc or 'timed out'}") from exc
        console.refresh()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read(pubsub), name="console-read"),
            loop.create_task(self._publish(), name="console-publish"),
            loop.create_task(self._write_timelines(), name="console-timelines"),
            loop.create_task(self._watch(), name="console-watch"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.timeout + 1)
        if self._open_here:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.delete(self._key)  # the others stop forwarding at their next check
        await self._sub.aclose()
        await self._redis.aclose()

    # -- the relay -------------------------------------------------------------------------------------------

    @property
    def forwarding(self) -> bool:
        return self._forwarding

    @property
    def dropped(self) -> int:
        return self._records.dropped + self._entries.dropped

    def send(self, body: bytes) -> None:
        self._records.put(body)

    def views_changed(self, open_here: int) -> None:
        first = open_here > 0 and self._open_here == 0
        self._open_here = open_here
        if first:
            self._forwarding = True
            self._check.set()  # announce now, and tell the others

    async def _watch(self) -> None:
        announced = False
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.check_every):
                    await self._check.wait()
            self._check.clear()
            try:
                if self._open_here:
                    await self._redis.set(self._key, self.node, px=int(self.announce_ttl * 1000))
                    if not announced:
                        await self._redis.publish(self._ctl, b"open")
                    announced = True
                    forwarding = True
                else:
                    announced = False
                    forwarding = bool(await self._redis.exists(self._key))
            except (RedisError, OSError) as exc:
                log.warning("console: Redis did not answer (%s); the console stream of other nodes may lag", exc)
                continue
            if forwarding != self._forwarding:
                self._forwarding = forwarding
                if self.console is not None:
                    self.console.refresh()

    async def _read(self, pubsub: Any) -> None:
        while True:
            try:
                async for item in pubsub.listen():
                    if item.get("type") != "message":
                        continue
                    channel = item["channel"]
                    channel = channel.decode() if isinstance(channel, bytes) else channel
                    if channel == self._ctl:
                        if not self._forwarding:
                            self._forwarding = True
                            if self.console is not None:
                                self.console.refresh()
                    else:
                        self._received(item["data"])
            except (RedisError, OSError) as exc:
                log.warning("console: Redis subscription lost (%s); resubscribing", exc)
                await asyncio.sleep(1.0)
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.subscribe(self._ctl, self._events)

    def _received(self, data: bytes) -> None:
        node, _, rest = data.partition(b"\n")
        if node.decode(errors="replace") == self.node or self.console is None or not rest:
            return
        try:
            self.console.receive(rest.split(b"\n"))
        except Exception:  # one bad batch must not end the subscription
            log.exception("console: a batch of records from node %s could not be handled", node[:80])

    async def _publish(self) -> None:
        prefix = self.node.encode() + b"\n"
        async for batch in self._records.batches():
            try:
                await self._redis.publish(self._events, prefix + b"\n".join(batch))
            except (RedisError, OSError) as exc:
                self._records.dropped += len(batch)
                log.warning("console: %d record(s) not sent to other nodes: %s", len(batch), exc)

    # -- the timeline ----------------------------------------------------------------------------------------

    def add(self, key: Key, body: bytes) -> None:
        self._entries.put((self._list(key), body))

    async def get(self, key: Key, limit: int) -> list[bytes]:
        try:
            items = await self._redis.lrange(self._list(key), 0, max(0, limit - 1))
        except (RedisError, OSError) as exc:
            raise AdapterUnavailable(f"Redis did not answer: {exc}") from exc
        return [i.encode() if isinstance(i, str) else bytes(i) for i in items]

    def _list(self, key: Key) -> str:
        return f"{self._timeline}:{key[0]}:{key[1]}:{key[2]}"

    async def _write_timelines(self) -> None:
        async for batch in self._entries.batches():
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for name, body in batch:
                        pipe.lpush(name, body)
                        pipe.ltrim(name, 0, self.per_user - 1)
                        pipe.expire(name, self.timeline_ttl)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                self._entries.dropped += len(batch)
                log.warning("console: %d timeline entr(ies) not stored: %s", len(batch), exc)

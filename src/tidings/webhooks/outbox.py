"""The webhook outbox's core: per-target queues of finished requests, their retries and their bounds. No I/O.

Both products hand it requests ready to send (body and headers as their receivers expect them: format and
signing stay with the product, in webhooks/channels.py and beams_webhooks/); the driver (webhooks/runner.py)
asks it what to send now, sends, and reports each answer back. Time is passed in.

Targets. A target is one webhook URL of one app or instance (`Target.key`: product, scope, URL). Each has its own
queue, its own in-flight limit and its requests' own retry schedules, so a dead or slow endpoint only delays its
own events:

- at most `Limits.in_flight` (32) requests of a target are being sent at once; after a request to it failed, one
  at a time and at most one every `Limits.probe_every` (1 s) until one succeeds: a dead endpoint holds one
  connection, not 32, and one that fails at once is not hammered;
- a failed request waits for its retry without holding a slot;
- requests due for a retry go before new ones.

Bounds. Everything queued counts until it is answered or dropped (waiting, waiting to retry, being sent), in events
(a batched Channels request carries several) and in bytes (body and header text, plus `OVERHEAD` per request for
the objects around them):

    per target   Limits.target_events (10 000) and Limits.target_bytes (8 MiB)
    overall      Limits.total_events (100 000) and Limits.total_bytes (64 MiB)

Over a bound, the oldest requests are dropped: of the target that went over its own bound; or, over the overall
bound, of the target holding the most bytes, so a target that keeps its queue short never loses events for others.
The oldest, because they are the likeliest to be stale and to run out of retries anyway: first those due or
waiting for a retry (in the order they failed), then the oldest never tried. A request being sent is never dropped,
nor the one just added (a single request larger than a bound is taken; the bound is then exceeded by it alone).
Every drop is reported through `on_drop`, which the metrics count per target.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol
from urllib.parse import urlsplit

from tidings.events import Product

OVERHEAD = 512  # bytes per queued request beyond its body and header text: the request, its dict, queue slots


@dataclass(frozen=True, slots=True)
class Retry:
    """When a failed request is tried again: after `delays[n-1]` seconds following its n-th failure (the last delay
    repeats), until `max_retries` retries were made or a retry would start more than `within` seconds after the
    first try. Each delay is spread by +-`jitter` (a fraction), so many nodes' retries do not arrive together."""

    delays: tuple[float, ...]
    max_retries: int | None = None
    within: float | None = None
    jitter: float = 0.0

    @classmethod
    def doubling(cls, first: float, cap: float, within: float, jitter: float) -> Retry:
        delays = [first]
        while delays[-1] * 2 < cap:
            delays.append(delays[-1] * 2)
        return cls((*delays, cap), within=within, jitter=jitter)

    def after(self, failures: int, elapsed: float, rand: float) -> float | None:
        """Seconds until the next try, after `failures` failed tries the first of which began `elapsed` seconds
        ago (`rand` in [0, 1) draws the jitter); None: give up."""
        if self.max_retries is not None and failures > self.max_retries:
            return None
        if not self.delays:
            return None
        base = self.delays[min(failures, len(self.delays)) - 1]
        if self.within is not None and elapsed + base > self.within:
            return None
        return base * (1.0 - self.jitter + 2.0 * self.jitter * rand)


@dataclass(frozen=True, slots=True)
class Limits:
    in_flight: int = 32  # requests per target being sent at once; 1 while it is failing
    probe_every: float = 1.0  # seconds, while a target is failing: one request (a probe) at most this often
    target_events: int = 10_000
    target_bytes: int = 8 << 20
    total_events: int = 100_000
    total_bytes: int = 64 << 20


@dataclass(frozen=True, slots=True)
class Target:
    """One webhook URL of one app (Channels) or instance (Beams), with how its requests are sent."""

    product: Product
    scope: str  # the app id or the instance id
    url: str
    retry: Retry
    timeout: float  # seconds a request may take before it counts as failed

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.product, self.scope, self.url)


def identity(url: str) -> str:
    """What a target may be called in metrics: its host (and port), never the userinfo, path or query, where
    webhook URLs carry credentials. A hash would not do: a short secret in the URL could be found from it."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "?", parts.port
    except ValueError:
        return "?"
    return f"{host}:{port}" if port is not None else host


@dataclass(slots=True, eq=False)
class Request:
    """One POST, as it will be sent on every try."""

    target: Target  # as of when it was last started: the target's latest settings
    body: bytes
    headers: Mapping[str, str]
    events: int  # what a drop of it costs, in events
    size: int
    failures: int = 0
    first_try: float | None = None


class Verdict(Enum):
    SENT = "sent"
    RETRY = "retry"
    GAVE_UP = "gave up"


# product, scope, target identity ("" before a target was chosen), reason, events
OnDrop = Callable[[str, str, str, str, int], None]


class Sink(Protocol):
    """What a product's webhook listener hands its requests to: the runner (runner.py), or a fake in tests."""

    def put(self, target: Target, body: bytes, headers: Mapping[str, str], events: int = 1) -> None: ...

    def dropped(self, product: str, scope: str, reason: str, events: int = 1) -> None:
        """Count events the product dropped before they reached a target (its own bounded staging)."""


class _Queue:
    __slots__ = ("due", "events", "failing", "fresh", "in_flight", "label", "paused_until", "retrying", "size",
                 "target")

    def __init__(self, target: Target) -> None:
        self.target = target
        self.label = identity(target.url)
        self.fresh: deque[Request] = deque()  # never tried, oldest first
        self.due: deque[Request] = deque()  # their retry is due
        self.retrying: dict[Request, None] = {}  # waiting for their retry, in the order they failed
        self.in_flight = 0
        self.failing = False
        self.paused_until = 0.0  # while failing: no new try before this
        self.events = 0
        self.size = 0

    def limit(self, limits: Limits) -> int:
        return 1 if self.failing else limits.in_flight

    def has_work(self) -> bool:
        return bool(self.due or self.fresh)

    def oldest(self, keep: Request | None) -> Request | None:
        """The request to drop first, never `keep` nor one being sent."""
        if self.due:
            return self.due[0]
        for request in self.retrying:
            return request
        if self.fresh and self.fresh[0] is not keep:
            return self.fresh[0]
        return None

    def remove(self, request: Request) -> None:
        if self.due and self.due[0] is request:
            self.due.popleft()
        elif request in self.retrying:
            del self.retrying[request]
        else:
            assert self.fresh[0] is request
            self.fresh.popleft()


class Outbox:
    def __init__(
        self, limits: Limits | None = None, *, on_drop: OnDrop | None = None, rand: Callable[[], float] = random.random
    ) -> None:
        self.limits = limits or Limits()
        self._on_drop = on_drop or (lambda product, scope, target, reason, events: None)
        self._rand = rand
        self._queues: dict[tuple[str, str, str], _Queue] = {}
        self._runnable: dict[tuple[str, str, str], None] = {}  # queues with work and a free slot, fair in order
        # (when, tie-break, target key, request due then, or None: the target's pause ends); stale ones skipped
        self._timers: list[tuple[float, int, tuple[str, str, str], Request | None]] = []
        self._seq = itertools.count()
        self.events = 0
        self.bytes = 0

    # -- in ------------------------------------------------------------------------------------------------

    def put(self, target: Target, body: bytes, headers: Mapping[str, str], events: int = 1) -> None:
        queue = self._queues.get(target.key)
        if queue is None:
            queue = self._queues[target.key] = _Queue(target)
        queue.target = target  # the latest settings (timeout, retries) apply to its queued requests too
        size = len(body) + sum(len(k) + len(v) for k, v in headers.items()) + OVERHEAD
        request = Request(target, body, headers, events, size)
        queue.fresh.append(request)
        self._count(queue, request, +1)
        limits = self.limits
        while queue.events > limits.target_events or queue.size > limits.target_bytes:
            if not self._drop_oldest(queue, request, "target full"):
                break
        while self.events > limits.total_events or self.bytes > limits.total_bytes:
            victims = [q for q in self._queues.values() if q.oldest(request) is not None]
            if not victims or not self._drop_oldest(max(victims, key=lambda q: q.size), request, "outbox full"):
                break
        if queue.in_flight < queue.limit(limits):
            self._runnable[target.key] = None

    def dropped(self, product: str, scope: str, reason: str, events: int = 1) -> None:
        """Count events a product dropped before they reached a target (its own bounded staging)."""
        self._on_drop(product, scope, "", reason, events)

    # -- out ---------------------------------------------------------------------------------------------

    def ready(self, now: float) -> list[Request]:
        """The requests to start sending now; each is in flight until `finished` is called for it."""
        while self._timers and self._timers[0][0] <= now:
            _, _, key, request = heapq.heappop(self._timers)
            queue = self._queues.get(key)
            if queue is None:
                continue
            if request is not None:
                if request not in queue.retrying:
                    continue  # dropped meanwhile
                del queue.retrying[request]
                queue.due.append(request)
            self._runnable[key] = None
        started: list[Request] = []
        for key in list(self._runnable):
            del self._runnable[key]
            queue = self._queues.get(key)
            if queue is None or queue.paused_until > now:
                continue  # paused: its timer makes it runnable again
            while queue.in_flight < queue.limit(self.limits) and queue.has_work():
                request = queue.due.popleft() if queue.due else queue.fresh.popleft()
                request.target = queue.target
                if request.first_try is None:
                    request.first_try = now
                queue.in_flight += 1
                started.append(request)
        return started

    def finished(self, request: Request, status: int, now: float) -> Verdict:
        """Record the answer to a request from `ready` (status 0: none, or no answer in time)."""
        queue = self._queues[request.target.key]  # it has a request in flight: never removed meanwhile
        queue.in_flight -= 1
        verdict = Verdict.SENT
        if 200 <= status < 300:
            queue.failing = False
            self._count(queue, request, -1)
        else:
            queue.failing = True
            queue.paused_until = now + self.limits.probe_every
            heapq.heappush(self._timers, (queue.paused_until, next(self._seq), request.target.key, None))
            request.failures += 1
            assert request.first_try is not None
            delay = queue.target.retry.after(request.failures, now - request.first_try, self._rand())
            if delay is None:
                verdict = Verdict.GAVE_UP
                self._count(queue, request, -1)
                self._report(queue, "retries exhausted", request.events)
            else:
                verdict = Verdict.RETRY
                queue.retrying[request] = None
                heapq.heappush(self._timers, (now + delay, next(self._seq), request.target.key, request))
        if queue.has_work() and queue.in_flight < queue.limit(self.limits):
            self._runnable[request.target.key] = None
        self._forget_if_empty(queue)
        return verdict

    def next_due(self) -> float | None:
        """When `ready` may have something new without anything put or finished meanwhile (a retry due, a pause
        ended): for the driver's sleep. None: nothing is waiting for time."""
        while self._timers:
            when, _, key, request = self._timers[0]
            queue = self._queues.get(key)
            if queue is not None and (request is None or request in queue.retrying):
                return when
            heapq.heappop(self._timers)  # dropped or forgotten meanwhile
        return None

    # -- bookkeeping ---------------------------------------------------------------------------------------

    def queued(self, target: Target) -> tuple[int, int]:
        """Events and bytes the target holds (tests, the console)."""
        queue = self._queues.get(target.key)
        return (queue.events, queue.size) if queue is not None else (0, 0)

    @property
    def targets(self) -> int:
        return len(self._queues)

    def _count(self, queue: _Queue, request: Request, sign: int) -> None:
        queue.events += sign * request.events
        queue.size += sign * request.size
        self.events += sign * request.events
        self.bytes += sign * request.size

    def _drop_oldest(self, queue: _Queue, keep: Request, reason: str) -> bool:
        victim = queue.oldest(keep)
        if victim is None:
            return False
        queue.remove(victim)
        self._count(queue, victim, -1)
        self._report(queue, reason, victim.events)
        self._forget_if_empty(queue)
        return True

    def _report(self, queue: _Queue, reason: str, events: int) -> None:
        target = queue.target
        self._on_drop(target.product, target.scope, queue.label, reason, events)

    def _forget_if_empty(self, queue: _Queue) -> None:
        # A target of an app deleted long ago must not stay: queues exist only while they hold something.
        if queue.in_flight == 0 and not (queue.fresh or queue.due or queue.retrying):
            self._queues.pop(queue.target.key, None)
            self._runnable.pop(queue.target.key, None)

"""A delivery worker: expands publishes into per-device rows and sends what is due, fairly, many at a time.

    step: publishes with work (oldest first) -> ordered by instance, least recently served first ->
          expand one page of the first that needs it -> claim due rows of each, up to the free capacity,
          in batches -> each batch sends concurrently, then records its results in one write

Isolation: a send has a total deadline (the provider's), and a device that fails transiently is
rescheduled in the database (storage/delivery.py), never waited for: nothing a device does holds the
others. Fairness: each step serves instances round-robin, so a huge publish of one instance takes one
batch per turn and a small publish of another is claimed at its next turn. Sharing: rows are claimed
under leases, so every worker of every process works on the same publish at once.

At least once, even across crashes: a row is final only once its result is written by the worker holding
its lease; a dead worker's leases expire and its rows are claimed again. Duplicates are bounded by what one
worker had claimed and not yet recorded: at most `concurrency` devices plus one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

from tidings.beams import events as ev
from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.beams.validation.publish import routed_event
from tidings.delivery.policy import DeliveryConfig
from tidings.delivery.routing import Router, RoutingConfig, UserChannels
from tidings.delivery.send import Sender
from tidings.errors import StorageError
from tidings.log import bound
from tidings.providers.base import Provider
from tidings.storage import Storage
from tidings.storage.apps import Clock, utcnow
from tidings.storage.delivery import ActivePublish, Claimed, DeliveryResult, Reschedule

log = logging.getLogger("tidings.delivery")

Sleep = Callable[[float], Awaitable[None]]

# Seconds an instance (its credentials) is reused before it is read again.
INSTANCE_TTL = 5.0


def new_worker_id() -> str:
    """Unique per worker and process run: a restarted process must not pass for its dead predecessor."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def publish_ids(active: ActivePublish) -> bound:
    """The publish's ids on every line logged inside the block, and in tasks started there."""
    return bound(instance_id=active.instance_id, publish_id=active.id)


class DeliveryWorker:
    def __init__(
        self,
        storage: Storage,
        providers: Mapping[Platform, Provider],
        config: DeliveryConfig | None = None,
        *,
        stream: ev.EventStream | None = None,
        channels: UserChannels | None = None,
        wake: asyncio.Event | None = None,
        worker_id: str | None = None,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.id = worker_id or new_worker_id()
        self._storage = storage
        self._store = storage.delivery
        self._config = config or DeliveryConfig()
        self._stream = stream
        self._wake = wake or asyncio.Event()  # set when a publish was accepted in this process
        self._clock = clock
        self._sleep = sleep  # `drain` waits for retries through it (and so through a test's fake time)
        self._sender = Sender(providers, rand=rand)
        self._stopping = asyncio.Event()
        self._freed = asyncio.Event()  # a send finished: capacity to claim more
        self._in_flight = 0  # devices claimed and not sent yet
        self._unrecorded = 0  # devices claimed whose results are not written yet (what a crash may resend)
        self._batches: dict[int, tuple[str, list[str]]] = {}  # batch -> (publish, device ids held)
        self._tasks: set[asyncio.Task[None]] = set()
        self._batch_ids = itertools.count()
        self._ticks = itertools.count(1)
        self._served: dict[str, int] = {}  # instance -> tick of its last claim (round-robin order)
        self._publishes: dict[str, Publish] = {}
        self._instances: dict[str, tuple[Instance | None, float]] = {}
        self.batches = 0  # claimed so far (tests and logs)
        # Routed publishes (a `channels` object): per user, the event over the socket or the push (routing.py).
        self._router = Router(
            self._store.routes, storage.apps.get_by_instance, channels, self.id,
            RoutingConfig(lease_seconds=self._config.lease_seconds), self._emit,
        )

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def stop(self) -> None:
        """Claim nothing more; `run` returns once the sends in flight are recorded."""
        self._stopping.set()

    async def run(self) -> None:
        """Deliver until `stop()`; then finish the batches in flight and give back whatever is still held."""
        renewer = asyncio.create_task(self._keep_leases(), name=f"leases-{self.id}")
        last_step = 0.0
        try:
            while not self._stopping.is_set():
                if not self._has_room(time.monotonic() - last_step):
                    # Cleared first: a send that finished earlier must not turn this wait into a busy loop.
                    self._freed.clear()
                    await self._until(self._freed, timeout=self._config.poll_interval)
                    continue
                last_step = time.monotonic()
                self._wake.clear()
                self._freed.clear()
                try:
                    progressed = await self.step()
                except StorageError as exc:
                    log.warning("worker %s cannot read the delivery schedule: %s", self.id, exc)
                    await self._until(self._stopping, timeout=self._config.poll_interval * 10)
                    continue
                if not progressed:
                    await self._until(self._wake, self._freed, timeout=self._config.poll_interval)
        finally:
            try:
                await self._finish_batches()
            finally:
                renewer.cancel()
                await self._release_all()

    async def drain(self, max_steps: int = 10_000) -> None:
        """Work until nothing is left to do now or later (tests, one-shot runs): waits for retries through
        the injected `sleep`, until the next row is due, so a fake clock makes them instant."""
        for _ in range(max_steps):
            progressed = await self.step()
            if self._tasks:
                await asyncio.wait(list(self._tasks), return_when=asyncio.FIRST_COMPLETED)
                continue
            if progressed:
                continue
            now = self._clock()
            due = await self._store.next_due()
            if due is None and not await self._store.active(now):
                return
            wait = (due - now).total_seconds() if due is not None else 0.0
            await self._sleep(wait if wait > 0 else self._config.poll_interval)
        raise RuntimeError(f"delivery did not drain in {max_steps} steps")

    async def step(self) -> bool:
        """One look at the schedule; True if it expanded, claimed or finished anything.

        Claims go round-robin over the publishes, least recently served instance first, one batch per publish
        per round, until the worker is full or nothing more is due.
        """
        now = self._clock()
        active = await self._store.active(now)
        progressed = False
        expanded_one = False
        turn: list[ActivePublish] = []
        for publish in sorted(active, key=lambda a: (self._served.get(a.instance_id, 0), a.created_at, a.id)):
            if publish.stale_routes:
                with publish_ids(publish):
                    progressed |= await self._resend(publish, now)
            if not publish.expanded:
                if expanded_one:
                    continue  # one page per step: expansion is cheap next to sending, not free
                expanded_one = True
                with publish_ids(publish):
                    progressed |= await self._expand(publish, now)
            elif publish.drained:
                if await self._store.finish_if_complete(publish.id, now):
                    self._finished(publish)
                    progressed = True
                continue
            turn.append(publish)
        while turn and self._room() > 0 and not self._stopping.is_set():
            turn = [p for p in turn if await self._claim(p, min(self._room(), self._config.batch_size), now)]
            progressed |= bool(turn)
        return progressed

    # -- steps ------------------------------------------------------------------------------------------

    async def _expand(self, active: ActivePublish, now: datetime) -> bool:
        if await self._instance(active.instance_id) is None:
            # Deleted since; its devices went with it.
            if await self._store.finish(active.id, now):
                self._finished(active)
            return True
        publish = await self._publish(active.id)
        routed = routed_event(publish.payload) if publish is not None else None
        if routed is not None:
            decided = await self._router.route(active, routed, now)
            if decided is None:
                return False
            first, complete = decided.first, decided.complete
        else:
            expansion = await self._store.expand(active.id, self._config.page_size, now)
            if expansion is None:
                return False
            first, complete = expansion.first, expansion.complete
        if first:
            log.info("worker %s started %s", self.id, active.id)
            self._emit(ev.BeamsPublishStarted(active.instance_id, active.id, resumed=False))
        if complete and await self._store.finish_if_complete(active.id, now):
            self._finished(active)
        return True

    async def _resend(self, active: ActivePublish, now: datetime) -> bool:
        """Socket routes a dead (or refused) sender left unsent: over the socket again (routing.py)."""
        publish = await self._publish(active.id)
        routed = routed_event(publish.payload) if publish is not None else None
        if routed is None or not await self._router.resend(active, routed, now):
            return False
        if active.expanded and await self._store.finish_if_complete(active.id, self._clock()):
            self._finished(active)
        return True

    async def _claim(self, active: ActivePublish, limit: int, now: datetime) -> bool:
        claimed = await self._store.claim(active.id, self.id, limit, self._config.lease_seconds, now)
        # A row of this worker's own whose lease ran out while a slow batch still sends it comes back here: it is
        # that batch's (re-leasing it only extended the lease). Rows of a batch that failed to record are not in
        # flight any more, so they are sent again, by this worker too: nothing is left stranded under its id.
        sending = {(publish_id, device_id) for publish_id, ids in self._batches.values() for device_id in ids}
        claimed = [c for c in claimed if (active.id, c.device_id) not in sending]
        if not claimed:
            return False
        self._served[active.instance_id] = next(self._ticks)
        self.batches += 1
        batch = next(self._batch_ids)
        self._batches[batch] = (active.id, [c.device_id for c in claimed])
        self._in_flight += len(claimed)
        self._unrecorded += len(claimed)
        with publish_ids(active):  # the batch's lines (its sends' too) carry the publish's ids
            task = asyncio.create_task(self._work(batch, active, claimed), name=f"batch-{active.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _work(self, batch: int, active: ActivePublish, claimed: Sequence[Claimed]) -> None:
        """Send one batch concurrently, then record it in one write. Never raises."""
        remaining = len(claimed)
        cancelled = False
        try:
            publish = await self._publish(active.id)
            instance = await self._instance(active.instance_id)
            started = active.started_at or self._clock()
            deadline = started + timedelta(seconds=self._config.retry_deadline)
            results: list[DeliveryResult | Reschedule] = []
            devices: dict[str, Device] = {}

            async def one(row: Claimed) -> None:
                nonlocal remaining
                try:
                    results.append(await self._one(row, instance, publish, deadline))
                    if row.device is not None:
                        devices[row.device_id] = row.device
                finally:
                    remaining -= 1
                    self._sent_one()

            await asyncio.gather(*(one(row) for row in claimed))
            await self._record(active, results, devices)
        except asyncio.CancelledError:
            cancelled = True  # stopped after the grace period: `run` gives the rows back
            raise
        except StorageError as exc:
            # The leases run out and the rows are claimed again, here or elsewhere.
            log.warning("worker %s could not deliver a batch of %s: %s", self.id, active.id, exc)
        except Exception:  # a bug must not end the worker; the rows are claimed again when their leases expire
            log.exception("worker %s failed on a batch of %s", self.id, active.id)
        finally:
            for _ in range(remaining):
                self._sent_one()
            self._unrecorded -= len(claimed)
            self._freed.set()
            if not cancelled:
                self._batches.pop(batch, None)

    async def _one(
        self, row: Claimed, instance: Instance | None, publish: Publish | None, deadline: datetime
    ) -> DeliveryResult | Reschedule:
        if row.device is None or instance is None or publish is None:
            what = "device" if row.device is None else "instance" if instance is None else "publish"
            return DeliveryResult(row.device_id, row.platform, "skipped", None, f"{what} deleted", row.attempts)
        return await self._sender.attempt(
            instance, row.device, publish, before=row.attempts, deadline=deadline, now=self._clock
        )

    async def _record(
        self, active: ActivePublish, results: Sequence[DeliveryResult | Reschedule], devices: Mapping[str, Device]
    ) -> None:
        await self._store.record(active.id, self.id, results, self._clock())
        final = [r for r in results if isinstance(r, DeliveryResult)]
        if self._stream is not None:
            for result in final:
                device = devices.get(result.device_id)
                self._stream.emit(
                    ev.BeamsDelivered(
                        active.instance_id,
                        active.id,
                        result.device_id,
                        device.user_id if device is not None else None,
                        result.platform.value,
                        result.outcome,
                        result.status_code,
                        result.attempts,
                    )
                )
        if final and await self._store.finish_if_complete(active.id, self._clock()):
            self._finished(active)

    def _finished(self, active: ActivePublish) -> None:
        with publish_ids(active):
            log.info("worker %s finished %s", self.id, active.id)
            self._publishes.pop(active.id, None)
            self._emit(ev.BeamsPublishFinished(active.instance_id, active.id))

    # -- capacity, leases, caches -------------------------------------------------------------------------

    def _room(self) -> int:
        # Sends in flight stay within the concurrency; sent rows still being recorded within one more batch.
        sending = self._config.concurrency - self._in_flight
        return min(sending, self._config.concurrency + self._config.batch_size - self._unrecorded)

    def _has_room(self, since_step: float) -> bool:
        """Whether to look at the schedule again: when idle; when a whole batch fits (one claim and one result
        write per batch_size devices); or when some room has been left unused for a poll interval (sends stuck
        until their deadline must not keep the free slots idle)."""
        room = self._room()
        if self._in_flight == 0 or room >= min(self._config.batch_size, max(1, self._config.concurrency // 2)):
            return True
        return room > 0 and since_step >= self._config.poll_interval

    def _sent_one(self) -> None:
        self._in_flight -= 1
        self._freed.set()

    async def _keep_leases(self) -> None:
        """Renew the leases of every batch in flight every third of a lease. Real time: a test's fake sleep
        must not turn this into a busy loop."""
        while True:
            await asyncio.sleep(self._config.renew_every)
            until = self._clock() + timedelta(seconds=self._config.lease_seconds)
            for batch, (publish_id, device_ids) in list(self._batches.items()):
                try:
                    held = await self._store.renew(publish_id, self.id, device_ids, until)
                except StorageError as exc:  # try again next time; the lease has two more thirds to go
                    log.warning("worker %s could not renew its leases on %s: %s", self.id, publish_id, exc,
                                extra={"publish_id": publish_id})
                    continue
                if held < len(device_ids) and batch in self._batches:  # (not just recorded meanwhile)
                    log.warning("worker %s lost %d leases on %s", self.id, len(device_ids) - held, publish_id,
                                extra={"publish_id": publish_id})

    async def _finish_batches(self) -> None:
        tasks = list(self._tasks)
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        except asyncio.CancelledError:  # the grace period is over: stop sending, give the rows back
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _release_all(self) -> None:
        """Give back rows of batches that did not finish (cancelled): due again at once, for any worker."""
        for publish_id, device_ids in list(self._batches.values()):
            with contextlib.suppress(StorageError):
                await self._store.release(publish_id, self.id, device_ids)
        self._batches.clear()

    async def _publish(self, publish_id: str) -> Publish | None:
        publish = self._publishes.get(publish_id)
        if publish is None:
            publish = await self._store.publish(publish_id)
            if publish is not None:
                # Bounded by count: a payload is up to 200 KiB, and publishes finished elsewhere are never popped here.
                if len(self._publishes) >= 64:
                    self._publishes.clear()
                self._publishes[publish_id] = publish
        return publish

    async def _instance(self, instance_id: str) -> Instance | None:
        cached = self._instances.get(instance_id)
        if cached is not None and time.monotonic() - cached[1] < INSTANCE_TTL:
            return cached[0]
        instance = await self._storage.instances.get(instance_id)
        if len(self._instances) >= 1000:
            self._instances.clear()
        self._instances[instance_id] = (instance, time.monotonic())
        return instance

    async def _until(self, *events: asyncio.Event, timeout: float) -> None:
        """Until any of `events` (or stop) is set, or `timeout` passes."""
        waiters = [asyncio.ensure_future(e.wait()) for e in (*events, self._stopping)]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _emit(self, event: ev.Event) -> None:
        if self._stream is not None:
            self._stream.emit(event)

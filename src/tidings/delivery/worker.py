"""A delivery worker: claims stored publishes and delivers them, one page of devices at a time.

    claim -> [page of devices after the cursor -> skip those already recorded -> send (bounded
    concurrency, retries) -> record results, move the cursor] ... -> finish

At least once, even across crashes: a publish is only finished after every page is recorded, and a
worker that dies leaves its lease to expire, after which another worker (or the restarted one) claims
the publish and resumes after the cursor. No duplicates in normal operation: results are recorded
before the cursor moves, and devices already recorded are skipped. A crash can resend only devices
of the page in progress whose results were not written yet (at most one page, usually far fewer:
results are written in batches and before every retry wait).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

from tidings.beams.models import Device, Instance, Platform
from tidings.delivery.policy import DeliveryConfig
from tidings.delivery.recorder import Recorder
from tidings.delivery.send import Sender
from tidings.errors import StorageError
from tidings.providers.base import Provider
from tidings.realtime import events as ev
from tidings.storage import DeliveryResult, Job, Storage
from tidings.storage.apps import Clock, utcnow

log = logging.getLogger("tidings.delivery")

Sleep = Callable[[float], Awaitable[None]]


def new_worker_id() -> str:
    """Unique per worker and process run: a restarted process must not pass for its dead predecessor."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseLost(Exception):
    """This worker no longer holds the publish it was working on (internal: ends the job)."""


class DeliveryWorker:
    def __init__(
        self,
        storage: Storage,
        providers: Mapping[Platform, Provider],
        config: DeliveryConfig | None = None,
        *,
        stream: ev.EventStream | None = None,
        wake: asyncio.Event | None = None,
        worker_id: str | None = None,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.id = worker_id or new_worker_id()
        self._storage = storage
        self._config = config or DeliveryConfig()
        self._stream = stream
        self._wake = wake or asyncio.Event()  # set when a publish was accepted in this process
        self._clock = clock
        self._sleep = sleep  # retry waits go through it (and so through a test's fake time)
        self._sender = Sender(providers, clock=clock, rand=rand)
        self._stopping = asyncio.Event()
        self._abort = asyncio.Event()  # per job: stop sending (shutdown, lease lost, database error)

    def stop(self) -> None:
        """Stop after the sends in flight: their results are recorded, the publish is given back to the
        queue (with its progress) for another worker, and `run` returns."""
        self._stopping.set()
        self._abort.set()

    async def run(self) -> None:
        """Claim and deliver publishes until `stop()`."""
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                worked = await self.run_once()
            except StorageError as exc:
                log.warning("worker %s cannot claim publishes: %s", self.id, exc)
                await self._idle(self._config.poll_interval * 10)
                continue
            if not worked:
                await self._idle(self._config.poll_interval)

    async def run_once(self) -> bool:
        """Claim one publish and work on it; False if the queue had nothing to claim."""
        job = await self._storage.delivery.claim(self.id, self._config.lease_seconds, now=self._clock())
        if job is None:
            return False
        await self.work(job)
        return True

    async def work(self, job: Job) -> None:
        """Deliver one claimed publish, keeping its lease alive meanwhile; never raises StorageError."""
        self._abort = asyncio.Event()
        if self._stopping.is_set():
            self._abort.set()
        publish_id = job.publish.id
        renewer = asyncio.create_task(self._keep_lease(publish_id), name=f"lease-{publish_id}")
        try:
            await self._deliver(job)
        except LeaseLost:
            log.warning("worker %s lost publish %s to another worker", self.id, publish_id)
        except StorageError as exc:
            # The lease runs out and the publish is claimed again, here or elsewhere.
            log.warning("worker %s stopped publish %s: %s", self.id, publish_id, exc)
        except Exception:  # a bug must not end the worker; the publish is retried when the lease runs out
            log.exception("worker %s failed on publish %s", self.id, publish_id)
        finally:
            renewer.cancel()

    async def _deliver(self, job: Job) -> None:
        publish = job.publish
        store = self._storage.delivery
        instance = await self._storage.instances.get(publish.instance_id)
        if instance is None:  # deleted since; its devices went with it
            await store.finish(publish.id, self.id)
            return
        log.info("worker %s delivering %s (%s %s)", self.id, publish.id, len(publish.targets), publish.kind)
        self._emit(ev.BeamsPublishStarted(instance.id, publish.id, resumed=job.resumed or job.cursor is not None))
        deadline = job.started_at + timedelta(seconds=self._config.retry_deadline)
        cursor = job.cursor
        while True:
            if self._abort.is_set():
                break
            devices = await self._page(instance.id, job, cursor)
            if devices and not await self._deliver_page(instance, job, devices, deadline):
                break
            if len(devices) < self._config.page_size:  # a short page is the last one
                if not await store.finish(publish.id, self.id):
                    raise LeaseLost
                log.info("worker %s finished %s", self.id, publish.id)
                self._emit(ev.BeamsPublishFinished(instance.id, publish.id))
                return
            cursor = devices[-1].id
        if self._stopping.is_set() and await store.release(publish.id, self.id):
            log.info("worker %s gave %s back to the queue", self.id, publish.id)

    async def _page(self, instance_id: str, job: Job, after: str | None) -> list[Device]:
        devices = self._storage.devices
        size = self._config.page_size
        targets = job.publish.targets
        if job.publish.kind == "users":
            return await devices.page_by_users(instance_id, targets, after=after, limit=size)
        return await devices.page_by_interests(instance_id, targets, after=after, limit=size)

    async def _deliver_page(
        self, instance: Instance, job: Job, devices: Sequence[Device], deadline: datetime
    ) -> bool:
        """Send to every device of the page not recorded yet; True if the page is recorded complete."""
        publish = job.publish
        done = await self._storage.delivery.done_among(publish.id, (device.id for device in devices))
        todo = [device for device in devices if device.id not in done]
        recorder = Recorder(
            self._storage.delivery,
            publish.id,
            self.id,
            flush_size=self._config.flush_size,
            on_recorded=lambda batch: self._on_recorded(instance.id, publish.id, batch),
            on_abort=self._abort.set,
        )
        queue = iter(todo)  # shared by the senders below: each takes the next device
        unfinished = 0

        async def sender() -> None:
            nonlocal unfinished
            for device in queue:
                if self._abort.is_set():
                    unfinished += 1
                    continue  # drain the iterator: count what this page leaves undone
                result = await self._sender.deliver(
                    instance, device, publish, deadline=deadline, wait=self._wait, before_wait=recorder.flush
                )
                if result is None:
                    unfinished += 1
                else:
                    await recorder.add(device, result)

        # A TaskGroup, not gather: if one sender fails unexpectedly, the others are cancelled rather than left
        # sending in the background of a job that has ended.
        async with asyncio.TaskGroup() as group:
            for _ in range(min(self._config.concurrency, len(todo))):
                group.create_task(sender())
        complete = unfinished == 0 and not recorder.failed
        await recorder.flush(cursor=devices[-1].id if complete else None)
        if recorder.lost:
            raise LeaseLost
        if recorder.error is not None:
            raise recorder.error
        return complete

    def _on_recorded(self, instance_id: str, publish_id: str, batch: Sequence[tuple[Device, DeliveryResult]]) -> None:
        if self._stream is None:
            return
        for device, result in batch:
            self._stream.emit(
                ev.BeamsDelivered(
                    instance_id,
                    publish_id,
                    device.id,
                    device.user_id,
                    result.platform.value,
                    result.outcome,
                    result.status_code,
                    result.attempts,
                )
            )

    async def _keep_lease(self, publish_id: str) -> None:
        """Renew the lease every third of it; on loss, abort the job. Real time: a test's fake sleep
        must not turn this into a busy loop."""
        while True:
            await asyncio.sleep(self._config.renew_every)
            until = self._clock() + timedelta(seconds=self._config.lease_seconds)
            try:
                held = await self._storage.delivery.renew(publish_id, self.id, until)
            except StorageError as exc:  # try again next time; the lease has two more thirds to go
                log.warning("worker %s could not renew its lease on %s: %s", self.id, publish_id, exc)
                continue
            if not held:
                log.warning("worker %s lost its lease on %s", self.id, publish_id)
                self._abort.set()
                return

    async def _wait(self, seconds: float) -> bool:
        """Sleep `seconds` unless the job is aborted first; True if the whole wait passed."""
        if self._abort.is_set():
            return False
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        aborted = asyncio.ensure_future(self._abort.wait())
        await asyncio.wait({sleeper, aborted}, return_when=asyncio.FIRST_COMPLETED)
        sleeper.cancel()
        aborted.cancel()
        return not self._abort.is_set()

    async def _idle(self, seconds: float) -> None:
        """Until a publish is accepted in this process, `stop()`, or `seconds` pass."""
        woken = asyncio.ensure_future(self._wake.wait())
        stopped = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({woken, stopped}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        woken.cancel()
        stopped.cancel()

    def _emit(self, event: ev.Event) -> None:
        if self._stream is not None:
            self._stream.emit(event)

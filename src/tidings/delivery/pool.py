"""Several delivery workers in one process, as `tidings serve` and `tidings worker` run them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from tidings.beams import events as ev
from tidings.beams.models import Platform
from tidings.delivery.policy import DeliveryConfig
from tidings.delivery.worker import DeliveryWorker
from tidings.providers.base import Provider
from tidings.storage import Storage

log = logging.getLogger("tidings.delivery")


class WorkerPool:
    """`count` workers sharing the queue (and each other's wake-ups); in-process, they find a publish
    accepted by this process at once, and any other within `poll_interval`."""

    def __init__(
        self,
        storage: Storage,
        providers: Mapping[Platform, Provider],
        count: int,
        config: DeliveryConfig | None = None,
        *,
        stream: ev.EventStream | None = None,
        **worker_options: Any,
    ) -> None:
        self.wake = asyncio.Event()
        self.workers = [
            DeliveryWorker(storage, providers, config, stream=stream, wake=self.wake, **worker_options)
            for _ in range(count)
        ]
        self._tasks: list[asyncio.Task[None]] = []
        if stream is not None:
            stream.subscribe(self._on_event)

    def _on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.BeamsPublishAccepted):
            self.wake.set()

    def start(self) -> None:
        for worker in self.workers:
            self._tasks.append(asyncio.create_task(self._run(worker), name=f"delivery-{worker.id}"))
        if self.workers:
            log.info("%d delivery worker(s) started", len(self.workers))

    async def _run(self, worker: DeliveryWorker) -> None:
        await worker.run()

    async def wait(self) -> None:
        """Until every worker has returned (after `stop`)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self, grace: float) -> None:
        """Let the workers record what is in flight; after `grace` seconds, cancel them (their unrecorded
        rows are given back, and resent by whoever claims them)."""
        for worker in self.workers:
            worker.stop()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=grace)
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if pending:
            log.warning("%d delivery worker(s) cancelled after %.1fs", len(pending), grace)

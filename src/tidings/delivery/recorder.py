"""Writes one page's results in batches while the page is worked on; the last write moves the cursor.

Every write goes through `DeliveryStore.record_page`, which checks the lease in the same transaction.
A write refused (lease lost) or failed (database error) stops the page: `on_abort` is called, later
results are dropped, and the publish is left to whoever holds it now (or takes it over).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from tidings.beams.models import Device
from tidings.errors import StorageError
from tidings.storage import DeliveryResult, DeliveryStore

log = logging.getLogger("tidings.delivery")

Recorded = Callable[[Sequence[tuple[Device, DeliveryResult]]], None]


class Recorder:
    def __init__(
        self,
        store: DeliveryStore,
        publish_id: str,
        worker_id: str,
        *,
        flush_size: int,
        on_recorded: Recorded,
        on_abort: Callable[[], None],
    ) -> None:
        self._store = store
        self._publish_id = publish_id
        self._worker_id = worker_id
        self._flush_size = flush_size
        self._on_recorded = on_recorded
        self._on_abort = on_abort
        self._pending: list[tuple[Device, DeliveryResult]] = []
        # One write at a time: the cursor write must come after every batch of its page.
        self._lock = asyncio.Lock()
        self.lost = False
        self.error: StorageError | None = None

    @property
    def failed(self) -> bool:
        return self.lost or self.error is not None

    async def add(self, device: Device, result: DeliveryResult) -> None:
        self._pending.append((device, result))
        if len(self._pending) >= self._flush_size:
            await self.flush()

    async def flush(self, cursor: str | None = None) -> None:
        """Write what is pending and, with `cursor`, move the publish's cursor to it."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if self.failed or (not batch and cursor is None):
                return
            try:
                held = await self._store.record_page(
                    self._publish_id, self._worker_id, [result for _, result in batch], cursor
                )
            except StorageError as exc:
                log.warning("recording results of %s failed: %s", self._publish_id, exc)
                self.error = exc
                self._on_abort()
                return
            if not held:
                log.warning("lost the lease on %s: another worker has taken it over", self._publish_id)
                self.lost = True
                self._on_abort()
                return
            self._on_recorded(batch)

"""OutboxKeeper: stores each rendered notification (storage/outbox.py) and tells the event stream about it."""

from __future__ import annotations

from typing import Any

from tidings.beams import events as ev
from tidings.beams.models import Device, Instance, Publish
from tidings.storage.outbox import OutboxEntry, OutboxStore


class OutboxKeeper:
    """The `keep` of providers.outbox.OutboxProvider: bounded to `max_per_instance` rows, each kept `retention` s."""

    def __init__(
        self, store: OutboxStore, *, max_per_instance: int, retention: float, stream: ev.EventStream | None = None
    ) -> None:
        self._store = store
        self._max = max_per_instance
        self._retention = retention
        self._stream = stream

    async def __call__(self, instance: Instance, device: Device, publish: Publish, request: dict[str, Any]) -> None:
        entry = OutboxEntry(instance.id, publish.id, device.id, device.user_id, device.platform.value, request)
        outbox_id = await self._store.keep(entry, max_per_instance=self._max, retention=self._retention)
        if self._stream is not None:
            title = request.get("notification", {}).get("title")
            self._stream.emit(ev.BeamsOutboxKept(
                instance.id, outbox_id, publish.id, device.id, device.user_id, device.platform.value,
                title if isinstance(title, str) else None,
            ))

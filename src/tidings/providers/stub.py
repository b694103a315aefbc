"""StubProvider: "delivers" every notification without contacting any gateway (development, demos).

Selected for every platform by the `push_stub` setting (TIDINGS_PUSH_STUB=true): the whole pipeline
(queue, paging, recording, status, reports) runs as in production, minus the network.
"""

from __future__ import annotations

import logging

from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.providers.base import Delivered, Outcome, Skipped

log = logging.getLogger("tidings.providers.stub")


class StubProvider:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        if self.platform.value not in publish.payload:
            return Skipped(f"publish has no {self.platform.value} payload")
        log.debug("stub %s delivery of %s to %s", self.platform.value, publish.id, device.id)
        return Delivered()

    async def close(self) -> None:
        return None

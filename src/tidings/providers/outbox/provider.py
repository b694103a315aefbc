"""OutboxProvider: in front of a platform's real provider, it keeps the notifications of instances in outbox mode.

For those, the request is rendered (render.py) and handed to `keep` instead of the gateway, and the outcome is
Delivered with the outbox marker, so the delivery pipeline (claiming, recording, status, events, webhooks) runs
as in production and records them `sent`. Every other instance goes to the real provider unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tidings.beams.models import Device, Instance, Publish
from tidings.providers.base import Delivered, Outcome, Provider, Retry
from tidings.providers.outbox import MARKER, enabled
from tidings.providers.outbox.render import Renderer

# (instance, device, publish, rendered request) -> stored. Raising makes the attempt a retry.
Keep = Callable[[Instance, Device, Publish, dict[str, Any]], Awaitable[None]]


class OutboxProvider:
    def __init__(self, inner: Provider, renderer: Renderer, keep: Keep) -> None:
        self.platform = inner.platform
        self._inner = inner
        self._renderer = renderer
        self._keep = keep

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        if not enabled(instance):
            return await self._inner.send(instance, device, publish)
        rendered = self._renderer.render(instance, device, publish)
        if not isinstance(rendered, dict):
            return rendered
        try:
            await self._keep(instance, device, publish, rendered)
        except Exception as exc:  # the database said no: like a gateway that did not answer, try again later
            return Retry(f"outbox: could not keep the notification ({type(exc).__name__})")
        return Delivered(status=0, note=MARKER)

    async def close(self) -> None:
        await self._inner.close()

"""One attempt at one device: call its provider and turn the answer into a result or a later attempt.

Nothing here waits: a device that must be retried gets the time of its next attempt (exponential backoff
with full jitter, never before the gateway's Retry-After), which the schedule keeps durably, and the worker
moves on. Past the publish's retry deadline a retry becomes a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.delivery.policy import backoff
from tidings.providers.base import DeadToken, Delivered, Failed, Outcome, Provider, Retry, Skipped
from tidings.storage.delivery import DeliveryOutcome, DeliveryResult, Reschedule

log = logging.getLogger("tidings.delivery")


class Sender:
    def __init__(self, providers: Mapping[Platform, Provider], *, rand: Callable[[], float]) -> None:
        self._providers = providers
        self._rand = rand

    async def attempt(
        self, instance: Instance, device: Device, publish: Publish, *, before: int, deadline: datetime,
        now: Callable[[], datetime],
    ) -> DeliveryResult | Reschedule:
        """Send once; `before` attempts were made already. The result to record, or when to try again."""
        provider = self._providers.get(device.platform)
        if provider is None:
            return _result(device, "skipped", None, f"no {device.platform.value} provider configured", before)
        if device.platform.value not in publish.payload:
            # The provider would say the same; asking costs nothing, but this is the common case of a
            # publish for one platform reaching users with devices on others.
            return _result(device, "skipped", None, f"no {device.platform.value} payload in the publish", before)
        attempts = before + 1
        outcome = await _send(provider, instance, device, publish)
        if not isinstance(outcome, Retry):
            return _final(device, outcome, attempts)
        at = now() + timedelta(seconds=backoff(attempts, outcome.after, self._rand()))
        if at > deadline:
            reason = f"gave up after {attempts} attempts (retry deadline): {outcome.reason}"
            return _result(device, "failed", outcome.status or None, reason, attempts)
        return Reschedule(device.id, at, attempts, outcome.status or None, outcome.reason)


async def _send(provider: Provider, instance: Instance, device: Device, publish: Publish) -> Outcome:
    try:
        return await provider.send(instance, device, publish)
    except Exception as exc:  # providers must not raise; if one does, one device fails, not the worker
        log.exception("provider %s raised for device %s", device.platform.value, device.id)
        return Failed(f"internal error: {type(exc).__name__}", status=0)


def _final(device: Device, outcome: Delivered | DeadToken | Failed | Skipped, attempts: int) -> DeliveryResult:
    match outcome:
        case Delivered(status=status, note=note):
            return _result(device, "sent", status or None, note, attempts)
        case DeadToken(reason=reason, status=status):
            # The token travels with the result: the device is deleted only if it still holds it.
            return DeliveryResult(device.id, device.platform, "removed", status, reason, attempts, device.token)
        case Failed(reason=reason, status=status):
            return _result(device, "failed", status or None, reason, attempts)
        case Skipped(reason=reason):
            return _result(device, "skipped", None, reason, attempts)


def _result(
    device: Device, outcome: DeliveryOutcome, status: int | None, reason: str | None, attempts: int
) -> DeliveryResult:
    return DeliveryResult(device.id, device.platform, outcome, status, reason, attempts)

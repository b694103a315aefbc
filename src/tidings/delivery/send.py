"""One device, one publish: call its provider, retry what may be retried, return the result to record."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.delivery.policy import backoff
from tidings.providers.base import DeadToken, Delivered, Failed, Outcome, Provider, Retry, Skipped
from tidings.storage import DeliveryResult
from tidings.storage.delivery import DeliveryOutcome

log = logging.getLogger("tidings.delivery")

# Waits `seconds`; False if the wait was cut short because the work must stop (shutdown, lost lease).
Wait = Callable[[float], Awaitable[bool]]


class Sender:
    def __init__(
        self,
        providers: Mapping[Platform, Provider],
        *,
        clock: Callable[[], datetime],
        rand: Callable[[], float],
    ) -> None:
        self._providers = providers
        self._clock = clock
        self._rand = rand

    async def deliver(
        self,
        instance: Instance,
        device: Device,
        publish: Publish,
        *,
        deadline: datetime,
        wait: Wait,
        before_wait: Callable[[], Awaitable[None]],
    ) -> DeliveryResult | None:
        """The device's result, after retries; None if the work was stopped while it waited to retry
        (nothing is recorded for it, so whoever resumes the publish tries it again)."""
        provider = self._providers.get(device.platform)
        if provider is None:
            return _result(device, "skipped", None, f"no {device.platform.value} provider configured", 0)
        if device.platform.value not in publish.payload:
            # The provider would say the same; asking costs nothing, but this is the common case of a
            # publish for one platform reaching users with devices on others.
            return _result(device, "skipped", None, f"no {device.platform.value} payload in the publish", 0)
        attempts = 0
        while True:
            attempts += 1
            outcome = await _send(provider, instance, device, publish)
            if not isinstance(outcome, Retry):
                return _final(device, outcome, attempts)
            delay = backoff(attempts, outcome.after, self._rand())
            if self._clock() + timedelta(seconds=delay) > deadline:
                reason = f"gave up after {attempts} attempts (retry deadline): {outcome.reason}"
                return _result(device, "failed", outcome.status or None, reason, attempts)
            log.debug("retrying %s in %.2fs: %s", device.id, delay, outcome.reason)
            await before_wait()
            if not await wait(delay):
                return None


async def _send(provider: Provider, instance: Instance, device: Device, publish: Publish) -> Outcome:
    try:
        return await provider.send(instance, device, publish)
    except Exception as exc:  # providers must not raise; if one does, one device fails, not the worker
        log.exception("provider %s raised for device %s", device.platform.value, device.id)
        return Failed(f"internal error: {type(exc).__name__}", status=0)


def _final(device: Device, outcome: Delivered | DeadToken | Failed | Skipped, attempts: int) -> DeliveryResult:
    match outcome:
        case Delivered(status=status):
            return _result(device, "sent", status, None, attempts)
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

"""The one shape every push gateway client has.

A provider turns (instance, device, publish) into one gateway request and classifies the answer, so the
delivery pipeline never sees a gateway's own status codes or error strings:

- Delivered: the gateway accepted the notification.
- DeadToken: the gateway says this device token will never work again (remove the device).
- Retry: try again later (429, 5xx, connection errors), optionally not before `after` seconds.
- Failed: a permanent error for this notification only (other 4xx); recorded, not retried.
- Skipped: the publish has no payload for this platform, or the instance has no credentials for it.

Providers translate their own exceptions at this boundary; `send` never raises for a gateway problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tidings.beams.models import Device, Instance, Platform, Publish


@dataclass(frozen=True, slots=True)
class Delivered:
    status: int = 200
    note: str | None = None  # recorded as the result's reason: "outbox" when kept in the push outbox, not sent


@dataclass(frozen=True, slots=True)
class DeadToken:
    reason: str
    status: int = 410


@dataclass(frozen=True, slots=True)
class Retry:
    reason: str
    after: float | None = None  # seconds, from Retry-After when the gateway gave one
    status: int = 0


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str
    status: int = 400


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str


Outcome = Delivered | DeadToken | Retry | Failed | Skipped


class Provider(Protocol):
    platform: Platform

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome: ...

    async def close(self) -> None: ...

"""What the Beams stores share: the outcomes of the guarded writes, and datetimes read back as UTC.

The stores themselves: `instances.InstanceStore`, `devices.DeviceStore`, `publishes.PublishStore`.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime


class SetUserResult(enum.Enum):
    """Outcome of `DeviceStore.set_user`; each refusal maps to its own Beams API error."""

    OK = "ok"
    NOT_FOUND = "not_found"
    OTHER_USER = "other_user"  # the device already belongs to a different user
    TOO_MANY_DEVICES = "too_many_devices"  # the user is at the per-platform device limit


class InterestResult(enum.Enum):
    """Outcome of `DeviceStore.add_interest`."""

    OK = "ok"
    NOT_FOUND = "not_found"
    TOO_MANY = "too_many"  # the device is at the interest limit


class ReportResult(enum.Enum):
    """Outcome of `PublishStore.add_report`: only a RECORDED report is news (counted, sent to webhooks)."""

    RECORDED = "recorded"
    DUPLICATE = "duplicate"  # the device already reported this event for this publish (a retry)
    NOT_TARGETED = "not_targeted"  # no such publish in this instance, or it never targeted the device


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; naive ones are taken as UTC.

    Used both ways: SQLite keeps a DateTime(timezone=True) as wall-clock text without the zone, so
    everything is written in UTC and what comes back naive is UTC.
    """
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

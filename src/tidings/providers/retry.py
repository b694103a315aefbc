"""Retry-After, as every gateway sends it: delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""

from __future__ import annotations

import math
from datetime import UTC
from email.utils import parsedate_to_datetime

# A wild Retry-After should not park a notification for days; the delivery deadline caps it anyway.
MAX_RETRY_AFTER = 24 * 3600.0


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait (0 for a date already past, at most a day), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() is True but float("²") raises
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; the parser leaves a "-0000" zone naive
        when = when.replace(tzinfo=UTC)
    delay = when.timestamp() - now
    if not math.isfinite(delay):
        return None
    return min(max(delay, 0.0), MAX_RETRY_AFTER)

"""How delivery behaves, in one place: page size, concurrency, leases, and the retry schedule. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from tidings.config import Settings

# Exponential backoff with full jitter (the AWS Architecture Blog's "Exponential Backoff And Jitter"):
# retries of many devices spread out instead of hitting a recovering gateway in waves.
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    concurrency: int = 200  # gateway requests in flight per worker
    retry_deadline: float = 300.0  # seconds from the publish's first claim; retries past it become failures
    lease_seconds: float = 30.0
    # Devices read per query; also what a crash can send twice at worst (the unrecorded part of one page).
    page_size: int = 500
    # Results are written in batches of this many; and before any retry wait, so a crash while one
    # device waits out a backoff does not resend the rest of its page.
    flush_size: int = 100
    poll_interval: float = 0.5  # seconds between looks at the queue when idle (a local publish wakes at once)

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        return cls(
            concurrency=settings.delivery_concurrency,
            retry_deadline=settings.delivery_retry_deadline,
            lease_seconds=settings.delivery_lease,
        )

    @property
    def renew_every(self) -> float:
        # Three renewals per lease: one slow or failed renewal does not lose the job.
        return self.lease_seconds / 3


def backoff(attempt: int, retry_after: float | None, rand: float) -> float:
    """Seconds to wait before attempt `attempt + 1`, after `attempt` attempts that asked for a retry.

    Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))), `rand` in [0, 1). Never less than
    the gateway's Retry-After: a gateway that says when to come back is believed.
    """
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** min(attempt - 1, 30))
    return max(rand * ceiling, retry_after or 0.0)

"""How delivery behaves, in one place: page and batch sizes, concurrency, leases, and the retry schedule. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from tidings.config import Settings

# Exponential backoff with full jitter (the AWS Architecture Blog's "Exponential Backoff And Jitter"):
# retries of many devices spread out instead of hitting a recovering gateway in waves.
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    concurrency: int = 200  # gateway requests in flight per worker; also the most a crash can send twice
    retry_deadline: float = 300.0  # seconds from the publish's start; retries past it become failures
    lease_seconds: float = 30.0  # how long a worker holds the rows it claimed between renewals
    page_size: int = 500  # target devices expanded into rows per step
    # Rows claimed, sent and recorded together: one claim and one result write per batch.
    batch_size: int = 100
    poll_interval: float = 0.5  # seconds between looks at the schedule when idle (a local publish wakes at once)

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

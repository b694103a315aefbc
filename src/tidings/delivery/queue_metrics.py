"""Samples the Beams delivery queue into the metrics every few seconds: its depth and its oldest publish.

The database is read here, on a timer, never at scrape time: a scrape stays cheap however often it comes, and a
slow or unavailable database makes the numbers stale (they keep their last values), never the scrape slow.
"""

from __future__ import annotations

import asyncio
import logging

from tidings.errors import StorageError
from tidings.metrics import Metrics
from tidings.storage import Storage
from tidings.storage.queue import queue_stats

log = logging.getLogger("tidings.delivery")

INTERVAL = 5.0


async def sample_forever(storage: Storage, metrics: Metrics, interval: float = INTERVAL) -> None:
    while True:
        try:
            stats = await queue_stats(storage.engine)
        except StorageError as exc:
            log.warning("could not sample the delivery queue: %s", exc)
        else:
            metrics.set_queue(stats.publishes, stats.oldest.timestamp() if stats.oldest is not None else None)
        await asyncio.sleep(interval)

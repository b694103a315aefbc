"""One open console stream (a browser tab, an SSE client, `tidings tail`): a bounded queue that never grows.

The console offers every record of the view's scopes; the view keeps those its filter wants, up to `limit`
records. When the reader is slower than the events (a browser on a bad link, a paused terminal) the queue fills
and records are dropped and counted instead of kept: the reader then gets a gap marker (`{"kind": "gap",
"missed": N}`) in their place, after what was queued before them. Memory per view is at most `limit` records
plus what the socket buffers (the writer awaits the socket's drain).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

import orjson

from tidings.console.filters import Filter
from tidings.console.records import Record, gap

LIMIT = 1000  # records queued per view


class View:
    __slots__ = ("_items", "_missed", "_wake", "abort", "closed", "filter", "limit", "scopes")

    def __init__(self, scopes: frozenset[tuple[str, str]], flt: Filter, limit: int = LIMIT) -> None:
        self.scopes = scopes  # (product, app id or instance id)
        self.filter = flt
        self.limit = limit
        self._items: deque[bytes] = deque()
        self._missed = 0
        self._wake = asyncio.Event()
        self.closed = False
        self.abort: Callable[[], None] | None = None  # drops the reader's connection (server shutdown)

    def offer(self, record: Record, body: bytes) -> None:
        if not self.filter.matches(record):
            return
        if len(self._items) >= self.limit:
            self._missed += 1  # dropped in order: what was queued goes first, then the gap, then newer ones
        else:
            self._items.append(body)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def next(self, timeout: float) -> list[bytes]:
        """What arrived since the last call (JSON objects), waiting up to `timeout` for something; [] if nothing."""
        if not self._items and not self._missed and not self.closed:
            self._wake.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                return []
        out = list(self._items)
        self._items.clear()
        if self._missed:
            out.append(orjson.dumps(gap(self._missed, time.time())))
            self._missed = 0
        return out

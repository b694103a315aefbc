"""A stop leaves nothing running behind it: the server's own loops (keep-alive, mailbox sweep, queue sampler) are
awaited, not only cancelled, before the storage closes.

Found in CI: the queue sampler, cancelled in the middle of a query, cleaned its database connection up after
the storage had closed, and waited forever on it; the test's event loop then never closed. Stopping at a random
moment of the first milliseconds, when the sampler's first query runs, hung about once in 60 starts before.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.support.inprocess import serving

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("attempt", range(30))
async def test_a_stop_at_any_moment_leaves_no_task_behind(tmp_path: Path, attempt: int) -> None:
    before = set(asyncio.all_tasks())
    async with serving(tmp_path):
        await asyncio.sleep(random.random() * 0.01)
    await asyncio.sleep(0)  # cancellations already delivered complete here
    left = [t for t in asyncio.all_tasks() if t not in before and t is not asyncio.current_task()]
    assert not left, [t.get_coro() for t in left]

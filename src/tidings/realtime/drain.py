"""Graceful drain at shutdown (docs/users.md): connections leave over `drain_seconds`, not all at once.

On SIGTERM the server turns not-ready (/ready 503) and refuses new connections at once (web layer); then
this closes its connections with 4200 (pusher-js reconnects at once, through the load balancer, to another
node) spread evenly over the window with jitter, so the other nodes see a steady trickle of reconnects
instead of a stampede. While draining, a closed connection keeps its presence memberships and its
signed-in user in the shared state for `hold` seconds before giving them back: a client that reconnects
elsewhere within that time is still a member there, so nobody sees member_removed then member_added (and
its webhooks, held as long, cancel out). After the window, `grace` seconds for the last clients to answer
the close, then the rest are cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

from tidings.channels.codes import Code
from tidings.realtime.connection import Connection
from tidings.realtime.hub import Hub

log = logging.getLogger("tidings.server")

MESSAGE = "Server is shutting down"
HOLD = 3.0  # seconds; the webhook hold (webhooks/channels.py) is as long, so a move is silent there too


def schedule(n: int, seconds: float, rng: random.Random) -> list[float]:
    """Offsets in [0, seconds) for n closes: one in each of n equal slots, at a random place in it (an even
    rate, without the lockstep of a fixed interval)."""
    if n == 0 or seconds <= 0:
        return [0.0] * n
    slot = seconds / n
    return [slot * (i + rng.random()) for i in range(n)]


async def run(
    hub: Hub, seconds: float, grace: float, *, hold: float = HOLD, rng: random.Random | None = None,
    hurry: asyncio.Event | None = None,
) -> None:
    """Drain; `hurry`, once set (a second Ctrl-C), ends the spreading: whoever is left is told at once."""
    loop = asyncio.get_running_loop()
    conns = list(hub.all_connections())
    if seconds > 0 and conns:
        if hub.adapter.shared and hold > 0:
            hub.release_hold = _holder(hold)
        order = list(conns)
        (rng or random.Random()).shuffle(order)
        offsets = schedule(len(order), seconds, rng or random.Random())
        log.info("draining %d connection(s) over %.1f s", len(order), seconds)
        start = loop.time()
        for conn, offset in zip(order, offsets, strict=True):
            wait = start + offset - loop.time()
            if wait > 0 and not (hurry is not None and hurry.is_set()):
                if hurry is None:
                    await asyncio.sleep(wait)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(hurry.wait(), wait)
            conn.fail(Code.GENERIC_RECONNECT, MESSAGE)
    await close_all(hub, grace)


def _holder(hold: float) -> Callable[[Connection], Awaitable[None]]:
    async def held(conn: Connection) -> None:
        await asyncio.sleep(hold)

    return held


async def close_all(hub: Hub, grace: float) -> None:
    """Tell every client left to reconnect elsewhere (4200), then give them `grace` seconds to close."""
    loop = asyncio.get_running_loop()
    for conn in list(hub.all_connections()):
        conn.fail(Code.GENERIC_RECONNECT, MESSAGE)
    deadline = loop.time() + grace
    while any(True for _ in hub.all_connections()) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    for conn in list(hub.all_connections()):
        conn.abort("shutdown")
    await asyncio.sleep(0)  # let connection_lost callbacks run and removals start

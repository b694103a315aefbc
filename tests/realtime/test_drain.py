"""The drain at shutdown (realtime/drain.py), on a hub without sockets: when each connection is told to go.
The same on real nodes, measured from the node the clients move to: tests/scaleout/test_users_at_scale.py."""

from __future__ import annotations

import asyncio
import random
import time

from tests.realtime.fakes import connect
from tidings.channels.apps import App
from tidings.realtime import drain
from tidings.realtime import events as ev
from tidings.realtime.hub import Hub

APP = App(id="1", key="key", secret="secret")


def test_the_schedule_puts_one_close_in_each_slot() -> None:
    offsets = drain.schedule(100, 10.0, random.Random(1))
    assert all(i * 0.1 <= t < (i + 1) * 0.1 for i, t in enumerate(offsets))
    assert len({round(t % 0.1, 6) for t in offsets}) > 90  # jittered: not the same place in every slot
    assert drain.schedule(3, 0.0, random.Random(1)) == [0.0, 0.0, 0.0]
    assert drain.schedule(0, 5.0, random.Random(1)) == []


async def test_connections_are_closed_with_4200_spread_over_the_window() -> None:
    hub = Hub(ev.EventStream())
    pairs = [connect(hub, APP) for _ in range(40)]
    closed_at: dict[str, float] = {}
    for conn, transport in pairs:
        original = transport.close

        def close(conn_id: str = conn.socket_id, original: object = original) -> None:
            closed_at[conn_id] = time.monotonic()
            original()  # type: ignore[operator]

        transport.close = close  # type: ignore[method-assign]
    start = time.monotonic()
    task = asyncio.create_task(drain.run(hub, 1.0, grace=0.2))
    await asyncio.sleep(0.5)
    if time.monotonic() - start < 0.9:  # (a machine that stalled this loop past the window says nothing here)
        assert 0 < len(closed_at) < 40, len(closed_at)  # part way through: some, not all
    for conn, _ in pairs:  # the clients answer the close: they leave the hub
        if conn.closing:
            await hub.remove(conn)
    await asyncio.wait_for(task, 30)
    assert len(closed_at) == 40
    assert max(closed_at.values()) - start >= 0.7  # spread, not all at the start
    for _, transport in pairs:
        assert transport.frames[-1] == {"event": "pusher:error", "data": {"code": 4200, "message": drain.MESSAGE}}


async def test_no_window_closes_everything_at_once() -> None:
    hub = Hub(ev.EventStream())
    pairs = [connect(hub, APP) for _ in range(5)]
    await drain.run(hub, 0.0, grace=0.0)
    assert all(conn.closing for conn, _ in pairs)
    assert hub.release_hold is None  # one node, nothing to move to: releases are not held


async def test_a_second_signal_ends_the_spreading() -> None:
    """`hurry` (a second Ctrl-C or SIGTERM) tells everyone left at once instead of waiting out the window."""
    hub = Hub(ev.EventStream())
    pairs = [connect(hub, APP) for _ in range(20)]
    hurry = asyncio.Event()
    task = asyncio.create_task(drain.run(hub, 600.0, grace=0.0, hurry=hurry))
    await asyncio.sleep(0.1)
    assert sum(conn.closing for conn, _ in pairs) < 20  # a 10-minute window: still spreading
    hurry.set()
    await asyncio.wait_for(task, 30)  # not 600 s
    assert all(conn.closing for conn, _ in pairs)

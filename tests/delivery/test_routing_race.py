"""The routing race (docs/user-first-delivery.md, "Races"): a user subscribes to their user channel (signs in) while
a worker routes a publish to them. Whatever the interleaving, the user gets it by exactly one route: the socket or the
push, never both, and never neither (the subscription completes; nobody leaves).

Run many times on real Redis (a subscribe waits for Redis there, so the worker's read can fall anywhere inside
it), the connection on the worker's node and on another node, and on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Sequence

import pytest

from tests.adapters.conftest import REDIS_URL, drop_keys
from tests.delivery.support import add_devices, fresh_instance, providers, publish, requests
from tests.delivery.test_routing import APP, OWNERS, ROUTED, route_rows, signin, user_events
from tests.realtime.fakes import connect, feed
from tidings.adapters.redis import RedisAdapter
from tidings.beams import events as ev
from tidings.delivery import DeliveryWorker, HubChannels
from tidings.realtime import remote
from tidings.realtime.connection import Connection
from tidings.realtime.hub import Hub
from tidings.storage import Storage

pytestmark = pytest.mark.slow  # many rounds on Redis and the database

ROUNDS = 40


async def node(prefix: str) -> tuple[Hub, RedisAdapter]:
    adapter = RedisAdapter(REDIS_URL, prefix=prefix)
    hub = Hub(ev.EventStream(), adapter)
    await adapter.start(lambda message, own: remote.on_message(hub, message, own))
    return hub, adapter


class Racing:
    """The worker's view of Channels, which starts alice's subscription right around the worker's read of who
    is signed in: `lead` > 0, the subscription starts that long before the read; < 0, the read is sent first and
    the subscription starts |lead| later. Each takes a fraction of a millisecond in Redis, so every round
    interleaves them differently, and the read lands before, inside or after the subscription's join."""

    def __init__(self, real: HubChannels, hub: Hub, conn: Connection, lead: float) -> None:
        self.real, self.hub, self.conn, self.lead = real, hub, conn, lead
        self.task: asyncio.Task[None] | None = None

    def _subscribe(self) -> None:
        message = {"event": "pusher:subscribe", "data": {"channel": "#server-to-user-alice"}}
        self.task = asyncio.ensure_future(feed(self.hub, self.conn, message))

    async def subscribed(self, app_id: str, channels: Sequence[str]) -> set[str]:
        if self.lead >= 0:
            self._subscribe()
            await asyncio.sleep(self.lead)
            return await self.real.subscribed(app_id, channels)
        read = asyncio.ensure_future(self.real.subscribed(app_id, channels))
        await asyncio.sleep(-self.lead)
        self._subscribe()
        return await read

    def publish(self, app_id: str, event: str, channels: Iterable[str], data: str) -> int:
        return self.real.publish(app_id, event, channels, data)


@pytest.fixture
async def cluster() -> AsyncIterator[tuple[Hub, Hub]]:
    """Two nodes on one Redis: the worker's and another."""
    prefix = f"tidings-race-{secrets.token_hex(4)}"
    (one, a1), (two, a2) = await node(prefix), await node(prefix)
    try:
        yield one, two
    finally:
        await a1.close()
        await a2.close()
        await drop_keys(prefix)


@pytest.mark.parametrize("where", ["same node", "other node"])
async def test_a_user_signing_in_while_routed_gets_it_once(
    storage: Storage, cluster: tuple[Hub, Hub], where: str
) -> None:
    await fresh_instance(storage)
    await storage.apps.create(APP)
    await add_devices(storage, OWNERS, user=OWNERS.get)
    worker_hub, other = cluster
    user_hub = worker_hub if where == "same node" else other
    rng = random.Random(12)
    routes: list[str] = []
    for n in range(ROUNDS):
        publish_id = f"pub-{n}"
        conn, transport = connect(user_hub, APP)
        await feed(user_hub, conn, signin(conn, "alice"))
        await publish(storage, publish_id, "users", ["alice"], ROUTED)
        fake = providers()
        racing = Racing(HubChannels(worker_hub), user_hub, conn, rng.uniform(-0.001, 0.001))
        await DeliveryWorker(storage, fake, channels=racing).drain()
        assert racing.task is not None
        await racing.task
        route = (await route_rows(storage, publish_id))["alice"][0]
        routes.append(route)
        pushed = sum(n for (pid, _), n in requests(fake).items() if pid == publish_id)
        if route == "socket":
            deadline = time.monotonic() + 30
            while not user_events(transport) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert (len(user_events(transport)), pushed) == (1, 0), f"round {n}"
        else:
            assert (len(user_events(transport)), pushed) == (0, 2), f"round {n}"  # alice's two devices
        await user_hub.remove(conn)
        # The leave reaches Redis before the next round reads the count.
        await asyncio.sleep(0)
    # Both outcomes happened: the rounds did race.
    assert {"socket", "push"} <= set(routes), routes

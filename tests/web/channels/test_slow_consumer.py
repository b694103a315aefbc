"""A client that stops reading is cut off once its write buffer passes TIDINGS_WRITE_BUFFER_LIMIT, while
the others keep receiving everything."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from tests.support.server import RunningServer
from tests.support.ws_client import RawWsSocket, WsClient
from tests.web.channels.conftest import api_for, metric, uniq

CHANNELS = 100  # the most one trigger may name: each trigger queues 100 events for the slow client
DATA = "x" * 10_000


async def test_slow_consumer_is_cut_off_others_keep_receiving(make_server: Callable[..., RunningServer]) -> None:
    srv = make_server(env={"TIDINGS_WRITE_BUFFER_LIMIT": "65536"})
    api = api_for(srv)
    labels = f'app_id="{srv.app_id}"'
    tag = uniq("slow")
    channels = [f"{tag}-{i}" for i in range(CHANNELS)]

    # The slow client: a hand-made WebSocket that subscribes to every channel and then never reads.
    slow = RawWsSocket(srv.host, srv.port, f"/app/{srv.key}?protocol=7", rcvbuf=4096)
    for name in channels:
        slow.send_json({"event": "pusher:subscribe", "data": {"channel": name}})
    deadline = time.monotonic() + 5
    while api.get(f"/apps/{{app}}/channels/{channels[-1]}").json() != {"occupied": True}:
        assert time.monotonic() < deadline, "the raw client's subscriptions never took effect"
        await asyncio.sleep(0.02)

    normal = await WsClient.connect(srv.ws_url())
    await normal.subscribe(channels[0])

    async def trigger_and_receive(n: int) -> None:
        data = json.dumps({"n": n, "pad": DATA})
        await asyncio.to_thread(api.trigger_ok, channels, "big", data)
        # The normal client reads as it should, and gets every event, in order.
        assert await normal.recv(timeout=10) == {"event": "big", "channel": channels[0], "data": data}

    try:
        sent = 0
        while metric(srv, "tidings_slow_consumer_disconnects_total", labels) < 1:
            assert sent < 40, f"the slow client was never cut off after {sent} triggers"
            await trigger_and_receive(sent)
            sent += 1
        # Events after the cut still reach the normal client.
        for n in range(sent, sent + 3):
            await trigger_and_receive(n)
        await normal.ping()

        assert metric(srv, "tidings_slow_consumer_disconnects_total", labels) == 1
        # The cut client left every channel it was in.
        assert api.get(f"/apps/{{app}}/channels/{channels[-1]}").json() == {"occupied": False}
        assert api.get(f"/apps/{{app}}/channels/{channels[0]}", {"info": "subscription_count"}).json() == {
            "occupied": True, "subscription_count": 1,
        }
    finally:
        slow.close()
        await normal.close()

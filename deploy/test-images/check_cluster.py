"""scripts/container-test's check of the compose stack: an event triggered through node 1's HTTP API (signed, with
the `pusher` SDK) reaches a WebSocket client connected to node 2 (the `websockets` library), across Redis.

    python check_cluster.py PORT_1 PORT_2 APP_ID KEY SECRET
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid

import pusher
import websockets


async def main(port_1: int, port_2: int, app_id: str, key: str, secret: str) -> None:
    channel, event, payload = f"container-{uuid.uuid4().hex[:8]}", "hello", {"sent": time.time()}
    url = f"ws://127.0.0.1:{port_2}/app/{key}?protocol=7&client=container-test&version=1"
    async with websockets.connect(url, open_timeout=20) as ws:
        established = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert established["event"] == "pusher:connection_established", established
        await ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if frame["event"] == "pusher_internal:subscription_succeeded":
                break
        client = pusher.Pusher(app_id=app_id, key=key, secret=secret, host="127.0.0.1", port=port_1, ssl=False,
                               timeout=20)
        # The subscription is announced to the cluster through Redis; the trigger is delivered on every node.
        await asyncio.to_thread(client.trigger, channel, event, payload)
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if frame["event"] == event:
                break
        assert frame["channel"] == channel and json.loads(frame["data"]) == payload, frame
    print(f"event triggered on node 1 (:{port_1}) reached a WebSocket client on node 2 (:{port_2})")


if __name__ == "__main__":
    p1, p2, app, k, s = sys.argv[1:6]
    asyncio.run(main(int(p1), int(p2), app, k, s))

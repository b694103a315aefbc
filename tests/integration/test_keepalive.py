"""Ping/pong both ways, 4201 for a client that never answers, 4200 on shutdown (reference 2.2, 2.3)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable

from tests.integration.conftest import uniq
from tests.support.server import RunningServer
from tests.support.ws_client import WsClient


async def test_client_ping_gets_pong(server: RunningServer) -> None:
    async with await WsClient.connect(server.ws_url()) as client:
        for data in ({}, "{}", None):
            await client.send("pusher:ping", data)
            assert await client.recv() == {"event": "pusher:pong", "data": {}}


async def test_server_pings_quiet_clients_and_closes_silent_ones_4201(
    make_server: Callable[..., RunningServer],
) -> None:
    srv = make_server(env={"TIDINGS_ACTIVITY_TIMEOUT": "1", "TIDINGS_PONG_TIMEOUT": "1"})
    answering = await WsClient.connect(srv.ws_url())
    silent = await WsClient.connect(srv.ws_url())
    assert answering.activity_timeout == 1 and silent.activity_timeout == 1

    async def answer_pings_for(seconds: float) -> int:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        pings = 0
        while loop.time() < end:
            frame = await answering.recv(timeout=3)
            assert frame == {"event": "pusher:ping", "data": {}}, frame
            pings += 1
            await answering.send("pusher:pong", {})
        return pings

    async def stay_silent() -> list[dict[str, object]]:
        frame = await silent.recv(timeout=3)
        assert frame == {"event": "pusher:ping", "data": {}}, frame
        return await silent.expect_close(4201, timeout=4)

    try:
        pings, frames = await asyncio.gather(answer_pings_for(3.0), stay_silent())
        assert pings >= 2, "a client that answers keeps being pinged, and is never closed"
        assert len(frames) == 1 and frames[0]["event"] == "pusher:error", frames
        assert frames[0]["data"]["code"] == 4201, frames  # type: ignore[index]
        assert answering.is_open
        await answering.ping()
    finally:
        await answering.close()
        await silent.close()


async def test_shutdown_sends_4200_then_closes(make_server: Callable[..., RunningServer]) -> None:
    srv = make_server()
    channel = uniq("bye-")
    clients = [await WsClient.connect(srv.ws_url()) for _ in range(3)]
    await clients[0].subscribe(channel)
    cd = json.dumps({"user_id": "u"})
    presence = uniq("presence-bye-")
    await clients[1].subscribe(presence, auth=clients[1].presence_auth(srv.key, srv.secret, presence, cd),
                               channel_data=cd)

    srv.proc.send_signal(signal.SIGTERM)
    for client in clients:
        frames = await client.expect_close(4200, timeout=5)
        assert len(frames) == 1, frames
        assert frames[0]["event"] == "pusher:error" and frames[0]["data"]["code"] == 4200, frames
    rc = await asyncio.to_thread(srv.proc.wait, 10)
    assert rc == 0, srv.log()[-3000:]

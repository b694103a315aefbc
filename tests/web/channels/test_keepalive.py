"""Ping/pong both ways, 4201 for a client that never answers, 4200 on shutdown.

docs/protocol/channels.md §2.2, §2.3."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable

import pytest

from tests.support.inprocess import InProcessServer
from tests.support.server import RunningServer
from tests.support.ws_client import TIMEOUT, WsClient
from tests.web.channels.conftest import uniq


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

    # Counted, not timed: each ping comes about a second after the last answer, however busy the machine.
    async def answer_pings(count: int) -> None:
        for _ in range(count):
            frame = await answering.recv(timeout=TIMEOUT)
            assert frame == {"event": "pusher:ping", "data": {}}, frame
            await answering.send("pusher:pong", {})

    async def stay_silent() -> list[dict[str, object]]:
        frame = await silent.recv(timeout=TIMEOUT)
        assert frame == {"event": "pusher:ping", "data": {}}, frame
        return await silent.expect_close(4201, timeout=TIMEOUT)

    try:
        # A client that answers keeps being pinged, and is never closed.
        _, frames = await asyncio.gather(answer_pings(3), stay_silent())
        assert len(frames) == 1 and frames[0]["event"] == "pusher:error", frames
        assert frames[0]["data"]["code"] == 4201, frames  # type: ignore[index]
        assert answering.is_open
        await answering.ping()
    finally:
        await answering.close()
        await silent.close()


async def test_stopping_sends_4200_then_closes(make_server: Callable[..., InProcessServer]) -> None:
    """The shutdown `tidings serve` runs on SIGTERM (server.start's stop()), in process: 4200, then closed."""
    srv = make_server()
    clients = [await WsClient.connect(srv.ws_url()) for _ in range(2)]
    await clients[0].subscribe(uniq("bye-"))
    stopping = asyncio.create_task(asyncio.to_thread(srv.stop))
    for client in clients:
        frames = await client.expect_close(4200)
        assert len(frames) == 1 and frames[0]["data"]["code"] == 4200, frames  # type: ignore[index]
    assert await stopping == 0


@pytest.mark.slow
async def test_shutdown_sends_4200_then_closes(make_process_server: Callable[..., RunningServer]) -> None:
    """SIGTERM to `tidings serve`: every client is told 4200 and closed, then the process exits 0."""
    srv = make_process_server()
    channel = uniq("bye-")
    clients = [await WsClient.connect(srv.ws_url()) for _ in range(3)]
    await clients[0].subscribe(channel)
    cd = json.dumps({"user_id": "u"})
    presence = uniq("presence-bye-")
    await clients[1].subscribe(presence, auth=clients[1].presence_auth(srv.key, srv.secret, presence, cd),
                               channel_data=cd)

    srv.proc.send_signal(signal.SIGTERM)
    for client in clients:
        frames = await client.expect_close(4200)
        assert len(frames) == 1, frames
        assert frames[0]["event"] == "pusher:error" and frames[0]["data"]["code"] == 4200, frames
    rc = await asyncio.to_thread(srv.proc.wait, 60)
    assert rc == 0, srv.log()[-3000:]

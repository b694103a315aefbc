"""Garbage on the socket: each bad frame is answered with `pusher:error`, and both the connection and the
server keep working (proved by a ping/pong and an HTTP-triggered event arriving afterwards)."""

from __future__ import annotations

import json

import pytest

from tests.support.server import RunningServer
from tests.support.ws_client import WsClient
from tests.web.channels.conftest import Api, uniq

BAD_FRAMES: list[str | bytes] = [
    "{not json",
    "",
    "[1, 2]",
    '"a string"',
    "null",
    "42",
    '{"data": {}}',  # no event
    '{"event": ""}',
    '{"event": 42, "data": {}}',
    '{"event": null}',
    b"\x00\x01binary",  # binary frame
    b'{"event": "pusher:ping", "data": {}}',  # JSON, but in a binary frame
    '{"event": "pusher:nope", "data": {}}',  # unknown pusher: event
    '{"event": "pusher:signin_please", "data": {}}',
    '{"event": "pusher:subscribe", "data": "not an object"}',
    '{"event": "pusher:subscribe", "data": 42}',
    '{"event": "pusher:subscribe", "data": [1]}',
    '{"event": "pusher:subscribe"}',
    '{"event": "pusher:subscribe", "data": {"channel": 5}}',
    '{"event": "pusher:subscribe", "data": {}}',
    '{"event": "pusher:unsubscribe", "data": "x"}',
    '{"event": "client-x", "channel": 5, "data": {}}',
    '{"event": "random-event", "data": {}}',
]


async def assert_still_works(client: WsClient, api: Api, channel: str) -> None:
    await client.ping()
    api.trigger_ok(channel, "after", '{"ok":true}')
    assert await client.recv() == {"event": "after", "channel": channel, "data": '{"ok":true}'}


@pytest.mark.parametrize("bad", BAD_FRAMES, ids=lambda b: repr(b)[:40])
async def test_bad_frame_answered_with_error_and_connection_survives(
    server: RunningServer, api: Api, bad: str | bytes
) -> None:
    channel = uniq("survivor-")
    async with await WsClient.connect(server.ws_url()) as client:
        await client.subscribe(channel)
        await client.send_raw(bad)
        frame = await client.recv()
        assert frame["event"] == "pusher:error", frame
        assert set(frame) == {"event", "data"}, frame
        assert set(frame["data"]) == {"code", "message"}, frame
        assert frame["data"]["code"] is None, frame  # a warning, not a close code
        assert isinstance(frame["data"]["message"], str) and frame["data"]["message"], frame
        await assert_still_works(client, api, channel)


async def test_many_bad_frames_in_a_row(server: RunningServer, api: Api) -> None:
    channel = uniq("survivor-")
    async with await WsClient.connect(server.ws_url()) as client:
        await client.subscribe(channel)
        for bad in BAD_FRAMES:
            await client.send_raw(bad)
        for _ in BAD_FRAMES:
            await client.expect("pusher:error")
        await assert_still_works(client, api, channel)


async def test_client_event_of_20kb_refused_connection_stays_open(server: RunningServer, api: Api) -> None:
    channel = uniq("private-big-")
    async with await WsClient.connect(server.ws_url()) as client:
        await client.subscribe(channel, auth=client.private_auth(server.key, server.secret, channel))
        await client.send("client-big", {"blob": "x" * 20_000}, channel=channel)
        await client.expect_error(4301, channel=channel)
        await assert_still_works(client, api, channel)


def frame_of_size(n: int) -> str:
    """A client event on a public channel (refused with 4301 when read) that is exactly `n` bytes long."""
    payload = json.dumps({"event": "client-x", "channel": "pub", "data": ""})
    text = payload[:-2] + "y" * (n - len(payload)) + '"}'
    assert len(text.encode()) == n
    return text


async def test_frame_of_exactly_max_message_bytes_is_read(server: RunningServer) -> None:
    """TIDINGS_MAX_MESSAGE_BYTES is 'the largest WebSocket message read from a client': 64 KiB itself is read."""
    async with await WsClient.connect(server.ws_url()) as client:
        await client.send_raw(frame_of_size(64 * 1024))
        await client.expect_error(4301, channel="pub")
        await client.ping()


async def test_frame_over_max_message_bytes_closes_1009_server_keeps_serving(
    server: RunningServer, api: Api
) -> None:
    channel = uniq("bystander-")
    bystander = await WsClient.connect(server.ws_url())
    await bystander.subscribe(channel)
    try:
        async with await WsClient.connect(server.ws_url()) as big:
            # Just under the limit is still read (and refused as a client event on a public channel).
            await big.send_raw(frame_of_size(64 * 1024 - 1))
            await big.expect_error(4301, channel="pub")
            await big.send_raw(json.dumps({"event": "client-x", "channel": "pub", "data": "z" * 70_000}))
            await big.expect_close(1009)
        await assert_still_works(bystander, api, channel)
        async with await WsClient.connect(server.ws_url()) as newcomer:
            await newcomer.ping()
    finally:
        await bystander.close()

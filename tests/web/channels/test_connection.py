"""Connecting: the handshake frame, protocol version checks and app refusals (docs/protocol/channels.md §2.1, §2.3)."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.server import RunningServer
from tests.support.ws_client import WsClient


async def test_connection_established_is_the_first_frame(server: RunningServer) -> None:
    client = await WsClient.open(server.ws_url())
    try:
        frame = await client.recv()
        assert set(frame) == {"event", "data"}, frame
        assert frame["event"] == "pusher:connection_established"
        assert isinstance(frame["data"], str), "data must be a JSON-encoded string"
        data = json.loads(frame["data"])
        assert set(data) == {"socket_id", "activity_timeout"}, data
        assert re.fullmatch(r"\d+\.\d+", data["socket_id"]), data
        assert data["activity_timeout"] == 120
    finally:
        await client.close()


async def test_socket_ids_are_unique(server: RunningServer) -> None:
    a = await WsClient.connect(server.ws_url())
    b = await WsClient.connect(server.ws_url())
    assert a.socket_id != b.socket_id
    await a.close()
    await b.close()


async def test_unknown_query_parameters_are_ignored(server: RunningServer) -> None:
    url = server.ws_url(query="protocol=7&client=js&version=8.6.0&flash=false&foo=bar&x=")
    async with await WsClient.connect(url) as client:
        assert client.activity_timeout == 120
        await client.ping()


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("client=js&version=8.6.0", 4008),  # no protocol
        ("protocol=3&client=js", 4007),  # unsupported
        ("protocol=8", 4007),  # unsupported (newer)
        ("protocol=abc", 4006),  # not a version at all
        ("protocol=%C2%B2", 4006),  # "²": a Unicode digit, not an ASCII one
        ("protocol=" + "7" * 30, 4006),  # absurdly long
    ],
)
async def test_protocol_version_refused(server: RunningServer, query: str, code: int) -> None:
    client = await WsClient.open(server.ws_url(query=query))
    await client.expect_error(code)
    assert await client.expect_close(code) == []


async def test_unknown_key_refused_with_4001(server: RunningServer) -> None:
    client = await WsClient.open(server.ws_url(key="no-such-key"))
    await client.expect_error(4001)
    assert await client.expect_close(4001) == []


async def test_server_keeps_serving_after_refusals(server: RunningServer) -> None:
    for _ in range(3):
        bad = await WsClient.open(server.ws_url(key="nope"))
        await bad.expect_error(4001)
        await bad.expect_close(4001)
    async with await WsClient.connect(server.ws_url()) as client:
        await client.ping()

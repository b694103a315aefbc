"""Log lines about a request or a WebSocket connection carry its ids as fields, and only its own.

In-process: the real aiohttp app and the real WebSocket endpoint on a loopback port, SQLite in memory; the
log is captured as `--log-format json` writes it.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from tests.support.logcapture import JsonLines, json_logs
from tidings.adapters.base import Joined, Left, Member
from tidings.beams.instances import new_instance
from tidings.channels.apps import App
from tidings.channels.credentials import new_app
from tidings.channels.protocol import Session
from tidings.config import Settings
from tidings.log import bound_ids
from tidings.metrics import Metrics
from tidings.realtime.events import EventStream
from tidings.realtime.hub import Hub
from tidings.realtime.registry import AppRegistry
from tidings.storage import Storage, open_storage
from tidings.ttlcache import TTLCache
from tidings.web.app import build_app
from tidings.web.beams.common import RateLimiter
from tidings.web.context import Context
from tidings.web.wsconn import WsConnection, WsServer


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    storage = await open_storage("sqlite+aiosqlite://")
    await storage.migrate()
    yield storage
    await storage.close()


@pytest.fixture
async def app(storage: Storage) -> App:
    return await storage.apps.create(new_app(name="logs"))


@pytest.fixture
def ctx(storage: Storage) -> Context:
    stream = EventStream()
    return Context(
        Settings(), storage, AppRegistry(storage.apps, 0), Hub(stream), stream, Metrics(),
        instances=TTLCache(storage.instances.get, 0), beams_rate=RateLimiter(100),
    )


def fail(message: str) -> Callable[..., Any]:
    async def raising(*args: Any) -> Any:
        raise RuntimeError(message)

    return raising


# -- HTTP ---------------------------------------------------------------------------------------------------


async def test_a_request_line_carries_the_ids_of_its_route_and_the_next_request_does_not(
    ctx: Context, storage: Storage, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = await storage.instances.create(new_instance(name="t"))
    monkeypatch.setattr(ctx.registry, "by_id", fail("apps unreadable"))
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(ctx)))
    await client.start_server()
    try:
        with json_logs() as logs:
            # One kept-alive client connection for both requests.
            channels = await client.post(f"/apps/{app.id}/events", data=b"{}")
            assert channels.status == 500
            monkeypatch.setattr(ctx.instances, "get", fail("instances unreadable"))
            beams = await client.get(
                f"/publish_api/v1/instances/{instance.id}/publishes/pub-1",
                headers={"Authorization": f"Bearer {instance.secret_key}"},
            )
            assert beams.status == 500
    finally:
        await client.close()

    first, second = logs.matching("unhandled error")
    assert first["app_id"] == app.id
    assert not {"instance_id", "publish_id"} & first.keys()
    assert (second["instance_id"], second["publish_id"]) == (instance.id, "pub-1")
    assert "app_id" not in second
    assert instance.secret_key not in json.dumps(logs.lines())


# -- WebSocket ----------------------------------------------------------------------------------------------


@pytest.fixture
async def ws_url(ctx: Context, app: App) -> AsyncIterator[str]:
    server = await asyncio.get_running_loop().create_server(WsServer(ctx).handshake, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"ws://127.0.0.1:{port}/app/{app.key}?protocol=7&client=js&version=8.4.0"
    server.close()
    await server.wait_closed()


async def connect(http: aiohttp.ClientSession, url: str) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    ws = await http.ws_connect(url)
    established = await ws.receive_json(timeout=5)
    assert established["event"] == "pusher:connection_established"
    return ws, json.loads(established["data"])["socket_id"]


async def wait_for(logs: JsonLines, count: int, text: str) -> list[dict[str, Any]]:
    async with asyncio.timeout(5):
        while len(found := logs.matching(text)) < count:
            await asyncio.sleep(0.01)
    return found


async def test_each_connection_s_lines_carry_its_own_ids_and_none_leak(
    ctx: Context, app: App, ws_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines from a frame's action (a task), from the connection's removal (a task) and the ids of two
    connections served by one process: each line names the connection it is about, and no other."""
    adapter = ctx.hub.adapter
    real_join, real_leave = adapter.join, adapter.leave

    async def join(app_id: str, channel: str, member: Member | None, cache: bool) -> Joined:
        if channel.startswith("broken-"):
            raise RuntimeError(f"join refused for {channel}")
        return await real_join(app_id, channel, member, cache)

    async def leave(app_id: str, channel: str, user_id: str | None) -> Left:
        await real_leave(app_id, channel, user_id)
        raise RuntimeError(f"leave refused for {channel}")

    monkeypatch.setattr(adapter, "join", join)
    monkeypatch.setattr(adapter, "leave", leave)
    with json_logs() as logs:
        async with aiohttp.ClientSession() as http:
            a, a_id = await connect(http, ws_url)
            b, b_id = await connect(http, ws_url)
            for ws, name in ((a, "ok-a"), (b, "ok-b")):
                await ws.send_json({"event": "pusher:subscribe", "data": {"channel": name}})
                assert (await ws.receive_json(timeout=5))["event"] == "pusher_internal:subscription_succeeded"
            # Interleaved: b, then a; each failure closes that connection, whose removal fails in turn.
            for ws, name in ((b, "broken-b"), (a, "broken-a")):
                await ws.send_json({"event": "pusher:subscribe", "data": {"channel": name}})
                await wait_for(logs, 1 if name == "broken-b" else 2, "unexpected error on a connection")
            await a.close()  # answers the server's close frame: the socket goes, its removal runs
            await b.close()
            await wait_for(logs, 2, "releasing a channel")
        logging_from_the_test = bound_ids()

    owner = {"broken-a": a_id, "ok-a": a_id, "broken-b": b_id, "ok-b": b_id}
    about = logs.matching("unexpected error on a connection") + logs.matching("releasing a channel")
    assert len(about) == 4
    assert all(line.get("app_id") == app.id and "socket_id" in line for line in about)
    named = 0
    for line in logs.lines():  # ours, and the WebSocket layer's debug lines (frames quote the channel)
        text = line["event"] + line.get("exception", "")
        channels = [name for name in owner if f'"{name}"' in text or f"refused for {name}" in text]
        if channels and "socket_id" in line:
            named += 1
            assert line["socket_id"] == owner[channels[0]], line
    assert named >= len(about)
    assert logging_from_the_test == {}


class _Transport:
    """Enough of a transport for WsConnection: it takes writes and flow-control calls."""

    def __init__(self) -> None:
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def client_text(text: str) -> bytes:
    """One masked text frame, as a client sends it."""
    protocol = ClientProtocol(parse_uri("ws://x/"), state=State.OPEN)
    protocol.send_text(text.encode())
    return protocol.data_to_send()[0]


async def test_a_callback_s_ids_are_gone_from_the_context_it_ran_in(
    ctx: Context, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two connections' data_received run one after the other in one context (an event loop is free to reuse
    one for callbacks): each line carries the ids of the connection it came from, and after the callbacks
    the context holds none of them."""
    server = WsServer(ctx)
    conns = []
    for _ in range(2):
        session = Session(app, ctx.hub.new_socket_id(app.id), time.monotonic(), server.timing)
        conns.append(WsConnection(server, ServerProtocol(state=State.OPEN), session, _Transport()))

    def broken(self: Session, data: bytes, now: float) -> list[Any]:
        raise RuntimeError(f"session of {self.socket_id} broke")

    monkeypatch.setattr(Session, "receive_text", broken)
    shared = contextvars.copy_context()
    with json_logs() as logs:
        for conn in conns:
            shared.run(conn.data_received, client_text('{"event":"pusher:ping","data":{}}'))
        shared.run(logging.getLogger("tidings.test").warning, "after the callbacks")
    lines = logs.matching("unexpected error on a connection")
    assert [line["socket_id"] for line in lines] == [conn.socket_id for conn in conns]
    assert all(f"session of {line['socket_id']} broke" in line["event"] for line in lines)
    (after,) = logs.matching("after the callbacks")
    assert "socket_id" not in after and "app_id" not in after
    assert shared.run(bound_ids) == {}

"""The offline user mailbox through a whole server (docs/user-first-delivery.md): `send_to_user` (the official Python
SDK) to a user with no `#server-to-user-` subscription is kept, and replayed in order, once, right after the next
`pusher_internal:subscription_succeeded` of that user's channel, on the raw protocol.

The apps are made with `tidings apps create --user-mailbox SECONDS` against the module's server.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pusher
import pytest

from tests.support.server import RunningServer
from tests.support.user_auth import sign_user_data
from tests.support.ws_client import WsClient, close_all
from tests.web.channels.conftest import HTTP_TIMEOUT, CliApp, cli, create_app, metric, uniq

Open = Callable[[CliApp], Awaitable[WsClient]]


@pytest.fixture
async def ws(server: RunningServer) -> AsyncIterator[Open]:
    opened: list[WsClient] = []

    async def _open(app: CliApp) -> WsClient:
        client = await WsClient.connect(server.ws_url(key=app.key))
        opened.append(client)
        return client

    yield _open
    await close_all(opened)


def sdk(server: RunningServer, app: CliApp) -> pusher.Pusher:
    return pusher.Pusher(app_id=app.id, key=app.key, secret=app.secret, host=server.host, port=server.port,
                         ssl=False, timeout=HTTP_TIMEOUT)


async def send_to_user(server: RunningServer, app: CliApp, user: str, event: str, data: Any) -> None:
    # The SDK blocks: off the loop, so the server (in this process, on its own loop) is not held up.
    await asyncio.to_thread(sdk(server, app).send_to_user, user, event, data)


async def signin(client: WsClient, app: CliApp, user: str) -> None:
    assert client.socket_id is not None
    user_data = json.dumps({"id": user})
    auth = sign_user_data(app.key, app.secret, client.socket_id, user_data)
    await client.send("pusher:signin", {"auth": auth, "user_data": user_data})
    await client.expect("pusher:signin_success")


async def sign_in_and_subscribe(client: WsClient, app: CliApp, user: str) -> list[dict[str, Any]]:
    """Sign in, subscribe to the user channel as pusher-js does, and return what came after
    subscription_succeeded (until a quiet moment)."""
    await signin(client, app, user)
    await client.subscribe(f"#server-to-user-{user}")
    return await drain(client)


async def drain(client: WsClient, quiet: float = 0.5) -> list[dict[str, Any]]:
    frames = []
    while True:
        try:
            frames.append(await client.recv(timeout=quiet))
        except AssertionError as exc:
            if "no frame" in str(exc):
                return frames
            raise


def events_of(frames: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(f["event"], json.loads(f["data"])) for f in frames]


def mailbox_app(server: RunningServer, seconds: int = 600) -> CliApp:
    return create_app(server, "--user-mailbox", str(seconds))


async def test_kept_for_an_offline_user_and_replayed_once_after_subscription_succeeded(
    server: RunningServer, ws: Open
) -> None:
    app = mailbox_app(server)
    bob = uniq("bob-")
    for i in range(3):
        await send_to_user(server, app, bob, "order-shipped", {"n": i})
    client = await ws(app)
    frames = await sign_in_and_subscribe(client, app, bob)
    assert events_of(frames) == [("order-shipped", {"n": i}) for i in range(3)]
    assert all(f["channel"] == f"#server-to-user-{bob}" for f in frames)

    # Once: a second sign-in of bob gets nothing; and, bob being reachable now, a new event goes live to both.
    second = await ws(app)
    assert await sign_in_and_subscribe(second, app, bob) == []
    await send_to_user(server, app, bob, "live", {"n": 9})
    for c in (client, second):
        assert events_of([await c.expect("live")]) == [("live", {"n": 9})]
    assert metric(server, "tidings_user_mailbox_total", f'app_id="{app.id}",outcome="kept"') == 3
    assert metric(server, "tidings_user_mailbox_total", f'app_id="{app.id}",outcome="replayed"') == 3


async def test_after_the_last_connection_closes_events_are_kept_again(server: RunningServer, ws: Open) -> None:
    app = mailbox_app(server)
    bob = uniq("bob-")
    first = await ws(app)
    await sign_in_and_subscribe(first, app, bob)
    await first.close()
    # The close is seen by the server a moment later: until then an event may still go live (to nobody).
    deadline = time.monotonic() + 30
    while await asyncio.to_thread(_occupied, server, app, bob):
        assert time.monotonic() < deadline, "the closed connection's user channel was never given back"
        await asyncio.sleep(0.05)
    await send_to_user(server, app, bob, "while-away", {"x": 1})
    again = await ws(app)
    assert events_of(await sign_in_and_subscribe(again, app, bob)) == [("while-away", {"x": 1})]


def _occupied(server: RunningServer, app: CliApp, user: str) -> bool:
    # The HTTP API hides `#` channels from the channel list; the channel query answers for one.
    import requests

    from tidings.channels.httpauth import sign_params

    path = f"/apps/{app.id}/channels/%23server-to-user-{user}"
    params = sign_params(app.key, app.secret, "GET", f"/apps/{app.id}/channels/#server-to-user-{user}", {}, b"")
    r = requests.get(server.http_url + path, params=params, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    return bool(r.json()["occupied"])


async def test_over_the_limit_the_oldest_are_dropped(server: RunningServer, ws: Open) -> None:
    app = mailbox_app(server)
    cli(server, "apps", "update", app.id, "--limit", "user_mailbox_events=2")
    bob = uniq("bob-")
    for i in range(4):
        await send_to_user(server, app, bob, "ev", i)
    client = await ws(app)
    assert events_of(await sign_in_and_subscribe(client, app, bob)) == [("ev", 2), ("ev", 3)]
    assert metric(server, "tidings_user_mailbox_total", f'app_id="{app.id}",outcome="dropped"') == 2


async def test_expired_events_are_not_replayed(server: RunningServer, ws: Open) -> None:
    app = mailbox_app(server, 1)
    bob = uniq("bob-")
    await send_to_user(server, app, bob, "stale", 1)
    await asyncio.sleep(1.2)
    await send_to_user(server, app, bob, "fresh", 2)
    client = await ws(app)
    assert events_of(await sign_in_and_subscribe(client, app, bob)) == [("fresh", 2)]
    assert metric(server, "tidings_user_mailbox_total", f'app_id="{app.id}",outcome="expired"') == 1


async def test_mailbox_off_is_todays_behaviour(server: RunningServer, ws: Open) -> None:
    app = create_app(server)
    bob = uniq("bob-")
    await send_to_user(server, app, bob, "lost", 1)
    client = await ws(app)
    assert await sign_in_and_subscribe(client, app, bob) == []
    await send_to_user(server, app, bob, "live", 2)
    assert events_of([await client.expect("live")]) == [("live", 2)]


async def test_other_channels_of_the_same_trigger_are_published_live(server: RunningServer, ws: Open) -> None:
    app = mailbox_app(server)
    bob, public = uniq("bob-"), uniq("news-")
    watcher = await ws(app)
    await watcher.subscribe(public)
    body = {"name": "both", "data": "d", "channels": [public, f"#server-to-user-{bob}"]}
    await asyncio.to_thread(_post_events, server, app, body)
    assert (await watcher.expect("both", channel=public))["data"] == "d"
    client = await ws(app)
    frames = await sign_in_and_subscribe(client, app, bob)
    assert [(f["event"], f["channel"], f["data"]) for f in frames] == [("both", f"#server-to-user-{bob}", "d")]


def _post_events(server: RunningServer, app: CliApp, body: dict[str, Any]) -> None:
    import requests

    from tidings.channels.httpauth import sign_params

    raw = json.dumps(body).encode()
    path = f"/apps/{app.id}/events"
    params = sign_params(app.key, app.secret, "POST", path, {}, raw)
    r = requests.post(server.http_url + path, params=params, data=raw,
                      headers={"Content-Type": "application/json"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text


async def test_signed_in_but_not_subscribed_yet_still_gets_kept_events_after_subscribing(
    server: RunningServer, ws: Open
) -> None:
    """Between pusher:signin and the user channel's subscription, an event is kept (not sent live) and comes
    right after subscription_succeeded: pusher-js binds on that channel."""
    app = mailbox_app(server)
    bob = uniq("bob-")
    client = await ws(app)
    await signin(client, app, bob)
    await send_to_user(server, app, bob, "between", 1)
    await client.expect_nothing(0.3)
    await client.subscribe(f"#server-to-user-{bob}")
    assert events_of(await drain(client)) == [("between", 1)]

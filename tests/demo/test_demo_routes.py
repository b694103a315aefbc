"""The demo's HTTP routes against a real server, without a browser.

The user-auth answer must be byte-for-byte what the official Python SDK's authenticate_user builds,
and the server must accept it in a real `pusher:signin`; /demo/send must reach the signed-in user.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pusher
import pytest

from tests.support.inprocess import start_inprocess
from tests.support.server import RunningServer
from tests.support.ws_client import WsClient
from tidings.errors import BadRequest
from tidings.web.demo import parse_watchlist

MakeServer = Callable[..., RunningServer]


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_inprocess(tmp_path_factory.mktemp("demo"), env={"TIDINGS_DEMO": "true"})
    yield srv
    srv.stop()


async def post(server: RunningServer, path: str, form: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(f"{server.http_url}{path}", data=form) as resp:
        return resp.status, await resp.json()


async def get(server: RunningServer, path: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(f"{server.http_url}{path}") as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def test_demo_routes_are_absent_without_demo_mode(make_server: MakeServer) -> None:
    server = make_server()
    status, _, _ = await get(server, "/demo")
    assert status == 404
    status, _ = await post(server, "/demo/user-auth", {"socket_id": "1.2", "user_id": "alice"})
    assert status == 404


async def test_page_gets_the_app_key_and_vendored_pusher_js(demo_server: RunningServer) -> None:
    status, body, headers = await get(demo_server, "/demo")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert f'<meta name="tidings-app-key" content="{demo_server.key}">' in body
    assert "Development only" in body

    status, body, _ = await get(demo_server, f"/demo?key={demo_server.key}")
    assert f'content="{demo_server.key}"' in body

    # An unknown key still serves the page, with no key: it shows how to get one.
    status, body, _ = await get(demo_server, '/demo?key="><script>')
    assert status == 200
    assert '<meta name="tidings-app-key" content="">' in body

    status, js, _ = await get(demo_server, "/demo/static/pusher.min.js")
    assert status == 200
    assert js.startswith("/*! For license information please see pusher.min.js.LICENSE.txt */")
    status, licence, _ = await get(demo_server, "/demo/static/pusher.min.js.LICENSE.txt")
    assert status == 200 and "Pusher JavaScript Library v8.6.0" in licence
    for asset in ("demo.js", "demo.css", "pusher-js.LICENCE.txt"):
        status, _, _ = await get(demo_server, f"/demo/static/{asset}")
        assert status == 200, asset


async def test_user_auth_matches_the_official_sdk_and_signs_in(demo_server: RunningServer) -> None:
    async with await WsClient.connect(demo_server.ws_url()) as ws:
        assert ws.socket_id is not None
        status, answer = await post(
            demo_server,
            "/demo/user-auth",
            {"socket_id": ws.socket_id, "user_id": "alice", "watchlist": " bob, carol,,bob ", "key": demo_server.key},
        )
        assert status == 200
        sdk = pusher.Pusher(app_id=demo_server.app_id, key=demo_server.key, secret=demo_server.secret)
        expected = sdk.authenticate_user(
            ws.socket_id, {"id": "alice", "user_info": {"name": "alice"}, "watchlist": ["bob", "carol"]}
        )
        assert answer == expected

        await ws.send("pusher:signin", answer)
        frame = await ws.expect("pusher:signin_success")
        assert frame["data"]["user_data"] == answer["user_data"]
        events = await ws.expect("pusher_internal:watchlist_events")
        assert events["data"]["events"] == [{"name": "offline", "user_ids": ["bob", "carol"]}]

        status, sent = await post(
            demo_server, "/demo/send", {"user_id": "alice", "message": "hi", "from": "bob", "key": demo_server.key}
        )
        assert (status, sent) == (200, {"delivered": 1})
        frame = await ws.expect("demo-message", channel="#server-to-user-alice")
        assert json.loads(frame["data"]) == {"text": "hi", "from": "bob"}

    # Nobody is signed in as carol: accepted, nothing delivered.
    status, sent = await post(demo_server, "/demo/send", {"user_id": "carol", "message": "hello?"})
    assert (status, sent) == (200, {"delivered": 0})


async def test_user_auth_without_key_uses_the_first_app(demo_server: RunningServer) -> None:
    status, answer = await post(demo_server, "/demo/user-auth", {"socket_id": "123.456", "user_id": "dave"})
    assert status == 200
    assert answer["auth"].startswith(f"{demo_server.key}:")
    assert json.loads(answer["user_data"]) == {"id": "dave", "user_info": {"name": "dave"}}


@pytest.mark.parametrize(
    ("path", "form", "status", "fragment"),
    [
        ("/demo/user-auth", {"socket_id": "nope", "user_id": "alice"}, 400, "socket_id"),
        ("/demo/user-auth", {"socket_id": "1.2", "user_id": ""}, 400, "empty"),
        ("/demo/user-auth", {"socket_id": "1.2", "user_id": "not valid"}, 400, "not a valid user id"),
        ("/demo/user-auth", {"socket_id": "1.2", "user_id": "alice", "watchlist": "bob, no way"}, 400, "Watchlist"),
        ("/demo/user-auth", {"socket_id": "1.2", "user_id": "alice", "key": "unknown"}, 404, "Unknown app key"),
        ("/demo/send", {"user_id": "alice", "message": "  "}, 400, "empty"),
        ("/demo/send", {"user_id": "a b", "message": "hi"}, 400, "not a valid user id"),
        ("/demo/send", {"user_id": "alice", "message": "x" * 1001}, 400, "longer than"),
    ],
)
async def test_bad_requests_are_refused(
    demo_server: RunningServer, path: str, form: dict[str, str], status: int, fragment: str
) -> None:
    got, body = await post(demo_server, path, form)
    assert got == status
    assert fragment in body["error"]


@pytest.mark.parametrize("path", ["/demo/user-auth", "/demo/send"])
async def test_a_form_that_cannot_be_parsed_is_a_400(demo_server: RunningServer, path: str) -> None:
    """Found by schemathesis (tests/openapi/): a multipart Content-Type without a boundary made aiohttp raise
    ValueError, answered 500."""
    headers = {"Content-Type": "multipart/form-data"}
    async with aiohttp.ClientSession() as session, session.post(
        f"{demo_server.http_url}{path}", data=b"user_id=alice", headers=headers
    ) as resp:
        assert resp.status == 400
        assert "Could not read the form" in (await resp.json())["error"]


def test_parse_watchlist() -> None:
    assert parse_watchlist("") == []
    assert parse_watchlist(" bob ,carol,, bob,") == ["bob", "carol"]
    with pytest.raises(BadRequest):
        parse_watchlist("bob, c d")

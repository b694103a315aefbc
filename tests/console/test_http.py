"""The console over HTTP on a whole server in this process: the login and its cookie, the gate on every console
URL, the bearer token and its limit, the SSE stream (payloads, filters, latency) and the per-user timeline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pusher
import pytest

from tests.console.support import TOKEN, bearer, login, sign_in, stream, trigger
from tests.support import users_sdk
from tests.support.inprocess import ServerHandle, serving
from tests.support.server import APP_ID, APP_KEY, APP_SECRET
from tidings.console.web import CONSOLE


@pytest.fixture
async def srv(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with serving(tmp_path, console_token=TOKEN) as s:
        yield s


@pytest.fixture
async def http():  # type: ignore[no-untyped-def]
    # unsafe: keep cookies of an IP-address host (127.0.0.1)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


PAGES = [
    "/console", f"/console/apps/{APP_ID}", f"/console/apps/{APP_ID}/users/alice",
]
API = [
    "/console/api/scopes", f"/console/api/apps/{APP_ID}/stream", f"/console/api/apps/{APP_ID}/users/alice/timeline",
    "/console/api/instances/00000000-0000-0000-0000-000000000000/stream",
    "/console/api/instances/00000000-0000-0000-0000-000000000000/users/alice/timeline",
]


async def test_no_console_url_answers_without_the_cookie(srv: ServerHandle, http: aiohttp.ClientSession) -> None:
    for path in PAGES:
        async with http.get(srv.http_url + path, allow_redirects=False) as r:
            assert (r.status, r.headers.get("Location")) == (303, "/console/login"), path
    for path in API:
        async with http.get(srv.http_url + path) as r:
            assert r.status == 401, path
            assert "error" in await r.json()
    # A cookie that was not issued by this server, or has expired, is no cookie.
    for forged in ("9999999999.00", "1.abc", "garbage"):
        async with http.get(srv.http_url + API[0], headers={"Cookie": f"tidings_console={forged}"}) as r:
            assert r.status == 401
    async with http.get(srv.http_url + "/console/login") as r:  # the login page and its assets are public
        assert r.status == 200 and 'id="token"' in await r.text()
    async with http.get(srv.http_url + "/console/static/console.js") as r:
        assert r.status == 200


async def test_a_login_form_that_cannot_be_parsed_is_a_400(srv: ServerHandle, http: aiohttp.ClientSession) -> None:
    """Found by schemathesis (tests/openapi/): multipart/form-data without a boundary made aiohttp raise, a 500."""
    headers = {"Content-Type": "multipart/form-data"}
    async with http.post(srv.http_url + "/console/login", data=b"token=x", headers=headers) as r:
        assert r.status == 400
        assert "Could not read the form" in (await r.json())["error"]


async def test_login_sets_a_strict_http_only_cookie(srv: ServerHandle, http: aiohttp.ClientSession) -> None:
    wrong = await login(http, srv.http_url, "not-the-token")
    assert wrong.status == 401 and "Wrong token" in await wrong.text()
    assert "tidings_console" not in wrong.cookies
    r = await login(http, srv.http_url)
    assert (r.status, r.headers["Location"]) == (303, "/console")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    for path in PAGES:
        async with http.get(srv.http_url + path, allow_redirects=False) as page:
            assert page.status == 200, path
            text = await page.text()
            assert "Content-Security-Policy" in page.headers
            assert srv.secret not in text  # never an app secret
    async with http.get(srv.http_url + "/console/api/scopes") as scopes:
        body = await scopes.text()
        assert scopes.status == 200 and APP_ID in body and srv.secret not in body
        assert srv.ctx.settings.default_instance_secret is None or "secret" not in body
    async with http.post(srv.http_url + "/console/logout", allow_redirects=False) as out:
        assert out.status == 303
    async with http.get(srv.http_url + "/console/api/scopes") as after:
        assert after.status == 401


async def test_wrong_tokens_are_rate_limited_per_address(srv: ServerHandle, http: aiohttp.ClientSession) -> None:
    url = srv.http_url + "/console/api/scopes"
    async with http.get(url, headers=bearer()) as ok:
        assert ok.status == 200
    statuses = []
    for _ in range(12):
        async with http.get(url, headers=bearer("wrong")) as r:
            statuses.append(r.status)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    async with http.get(url, headers=bearer()) as r:  # even the right token, until the window has passed
        assert r.status == 429
    assert (await login(http, srv.http_url)).status == 429


async def test_stream_shows_api_and_client_events_with_payloads_within_a_second(
    srv: ServerHandle, http: aiohttp.ClientSession
) -> None:
    async with stream(http, srv.http_url, headers=bearer()) as s:
        sent = time.monotonic()
        await trigger(http, srv.http_url, ["news", "sport"], "breaking", '{"headline":"Tidings ships"}')
        record = await s.until(lambda r: r["kind"] == "event_triggered")
        latency = s.seen[-1][0] - sent
        assert record["event"] == "breaking" and record["channels"] == ["news", "sport"]
        assert record["data"] == '{"headline":"Tidings ships"}'
        assert record["app_id"] == APP_ID and record["product"] == "channels" and record["time"].endswith("Z")
        # The product promises 1 s; a loaded test machine gets slack, and the figure is printed.
        print(f"trigger -> console record: {latency * 1000:.1f} ms")
        assert latency < 5.0

        alice = await sign_in(srv.ws_url(), "alice")
        auth = alice.private_auth(srv.key, srv.secret, "private-room")
        await alice.subscribe("private-room", auth=auth)
        await alice.send("client-typing", {"who": "alice"}, channel="private-room")
        client_event = await s.until(lambda r: r["kind"] == "client_event_sent")
        assert client_event["channel"] == "private-room" and '"who"' in client_event["data"]
        subscribed = [r for _, r in s.seen if r["kind"] == "subscribed"]
        assert any(r["channel"] == "private-room" and r["user_id"] == "alice" for r in subscribed)
        assert any(r["kind"] == "signed_in" and r["user_id"] == "alice" for _, r in s.seen)
        await alice.close()
        closed = await s.until(lambda r: r["kind"] == "connection_closed")
        assert closed["user_id"] == "alice" and closed["socket_id"] == alice.socket_id


async def test_filters_by_user_channel_event_and_kind(srv: ServerHandle, http: aiohttp.ClientSession) -> None:
    async with (
        stream(http, srv.http_url, headers=bearer(), user="bob") as by_user,
        stream(http, srv.http_url, headers=bearer(), channel="orders-") as by_channel,
        stream(http, srv.http_url, headers=bearer(), kind="event_triggered", event="paid") as by_kind,
    ):
        await trigger(http, srv.http_url, ["news"], "noise", "{}")
        await trigger(http, srv.http_url, ["#server-to-user-bob"], "hello-bob", '{"to":"bob"}')
        await trigger(http, srv.http_url, ["orders-42"], "paid", '{"order":42}')
        got_user = await by_user.next()
        assert got_user["event"] == "hello-bob" and got_user["users"] == ["bob"]
        got_channel = await by_channel.until(lambda r: r["kind"] == "event_triggered")
        assert got_channel["event"] == "paid"
        got_kind = await by_kind.next()
        assert got_kind["event"] == "paid" and got_kind["kind"] == "event_triggered"
        for _, r in by_channel.seen:
            assert any(c.startswith("orders-") for c in [r.get("channel") or "", *r.get("channels", [])])


async def test_timeline_of_a_signed_in_user_newest_first_and_kept_when_offline(
    srv: ServerHandle, http: aiohttp.ClientSession
) -> None:
    carol = await sign_in(srv.ws_url(), "carol", watchlist=["dave"])
    await trigger(http, srv.http_url, ["#server-to-user-carol"], "order-shipped", '{"order":7}')
    await carol.wait_for("order-shipped")
    await carol.close()
    url = f"{srv.http_url}/console/api/apps/{APP_ID}/users/carol/timeline"
    deadline = time.monotonic() + 30
    while True:
        async with http.get(url, headers=bearer()) as r:
            assert r.status == 200
            body = await r.json()
        kinds = [e["kind"] for e in body["events"]]
        if "connection_closed" in kinds or time.monotonic() > deadline:
            break
    assert kinds[0] == "connection_closed", kinds  # newest first
    assert "signed_in" in kinds and "event_triggered" in kinds and "user_online" in kinds
    signed = next(e for e in body["events"] if e["kind"] == "signed_in")
    assert signed["watchlist"] == ["dave"]
    sent = next(e for e in body["events"] if e["kind"] == "event_triggered")
    assert sent["data"] == '{"order":7}'
    assert [e["at"] for e in body["events"]] == sorted((e["at"] for e in body["events"]), reverse=True)
    assert body["online"] is False and body["user_id"] == "carol"
    async with http.get(url, params={"limit": "2"}, headers=bearer()) as r:
        assert len((await r.json())["events"]) == 2
    async with http.get(url, params={"limit": "0"}, headers=bearer()) as r:
        assert r.status == 400


async def test_unknown_app_is_404_and_the_stream_closes_with_the_server(tmp_path: Path) -> None:
    async with serving(tmp_path, console_token=TOKEN) as srv, aiohttp.ClientSession() as http:
        async with http.get(f"{srv.http_url}/console/api/apps/nope/stream", headers=bearer()) as r:
            assert r.status == 404
        async with stream(http, srv.http_url, headers=bearer()):
            assert srv.stack.ctx is not None
            console = srv.stack.console.console
            assert console.views == 1 and CONSOLE is not None
        # The client left: the server notices at its next write (keepalive) and closes the view.
        deadline = time.monotonic() + 30
        while console.views and time.monotonic() < deadline:
            await trigger(http, srv.http_url, ["news"], "tick", "{}")
            await __import__("asyncio").sleep(0.1)
        assert console.views == 0


async def test_timeline_shows_the_mailbox_content_of_an_offline_user(tmp_path: Path) -> None:
    """Kept events are listed on the user's timeline, oldest first (the replay order), and gone once replayed."""
    async with serving(tmp_path, console_token=TOKEN, default_app_user_mailbox=600) as srv, \
            aiohttp.ClientSession() as http:
        for n in (1, 2):
            await trigger(http, srv.http_url, ["#server-to-user-erin"], f"note-{n}", f'{{"n":{n}}}')
        url = f"{srv.http_url}/console/api/apps/{APP_ID}/users/erin/timeline"
        async with http.get(url, headers=bearer()) as r:
            assert r.status == 200
            kept = (await r.json())["mailbox"]
        assert kept["kept"] == 2
        assert [(e["event"], e["data"]) for e in kept["events"]] == [("note-1", '{"n":1}'), ("note-2", '{"n":2}')]
        assert all(e["expires_at"] > time.time() for e in kept["events"])
        erin = await sign_in(srv.ws_url(), "erin")
        await erin.send("pusher:subscribe", {"channel": "#server-to-user-erin"})  # as pusher-js does after signin
        await erin.wait_for("note-2")
        async with http.get(url, headers=bearer()) as r:
            assert (await r.json())["mailbox"] == {"kept": 0, "events": []}
        await erin.close()


async def test_timeline_shows_a_live_watchlist_change(srv: ServerHandle, http: aiohttp.ClientSession) -> None:
    """A watchlist replaced through the users API (docs/users.md) is on the user's timeline, with the new list."""
    frank = await sign_in(srv.ws_url(), "frank", watchlist=["gina"])
    sdk = pusher.Pusher(app_id=APP_ID, key=APP_KEY, secret=APP_SECRET, host="127.0.0.1", port=srv.port, ssl=False)
    assert await asyncio.to_thread(users_sdk.replace_watchlist, sdk, "frank", ["gina", "hugo"]) == {}
    await frank.wait_for("pusher_internal:watchlist_events")
    url = f"{srv.http_url}/console/api/apps/{APP_ID}/users/frank/timeline"
    async with http.get(url, params={"kind": "watchlist_changed"}, headers=bearer()) as r:
        body = await r.json()
    changed = [e for e in body["events"] if e["kind"] == "watchlist_changed"]
    assert [e["watchlist"] for e in changed] == [["gina", "hugo"]]
    await frank.close()

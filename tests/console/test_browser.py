"""The console in a real browser (Debian's Chromium, headless, through Python playwright): log in, watch an app's
stream while the official SDKs make events (the `pusher` Python SDK triggers, pusher-js in Node sends client
events), filter by user, open a signed-in user's timeline (their connection, a `send_to_user` event, a Beams
publish with its device's result). A wrong token is refused. Screenshots of each page are kept in
test-artifacts/console/ (git-ignored); docs/images/ has copies for docs/console.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pusher
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.compat.nodejs import NodeScript, ensure_node_modules
from tests.console.support import TOKEN
from tests.support.auth_endpoint import AuthEndpoint
from tests.support.browser import chromium
from tests.support.inprocess import InProcessServer
from tests.support.push_endpoint import PushService
from tidings.beams import tokens
from tidings.web.demo import user_auth_response

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.compat, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
IID = "5e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
SECRET = "5EC7E7" * 10 + "BEEF"
LOADED_MS = 10_000  # the same on a loaded machine (other tests on 2 cores); the measured figure is printed


@pytest.fixture
def srv(make_server: Callable[..., InProcessServer]) -> InProcessServer:
    return make_server(env={
        "TIDINGS_CONSOLE_TOKEN": TOKEN, "TIDINGS_DEFAULT_INSTANCE_ID": IID, "TIDINGS_DEFAULT_INSTANCE_SECRET": SECRET,
        "TIDINGS_DEFAULT_APP_BEAMS_INSTANCE": IID,
    })


@contextmanager
def signed_in(srv: InProcessServer, user: str) -> Iterator[ClientConnection]:
    """A Channels connection signed in as `user` (the protocol by hand, as pusher-js does it)."""
    with connect(srv.ws_url(), open_timeout=30) as ws:
        established = json.loads(ws.recv(timeout=30))
        socket_id = json.loads(established["data"])["socket_id"]
        auth = user_auth_response(srv.key, srv.secret, socket_id, {"id": user})
        ws.send(json.dumps({"event": "pusher:signin", "data": auth}))
        assert json.loads(ws.recv(timeout=30))["event"] == "pusher:signin_success"
        yield ws


def web_device_of(srv: InProcessServer, push: PushService, user: str) -> str:
    dev = f"{srv.http_url}/device_api/v1/instances/{IID}"
    with httpx.Client(timeout=30) as http:
        device_id = http.post(f"{dev}/devices/web", json={"token": push.new_subscription().token}).json()["id"]
        beams_token = tokens.issue(IID, SECRET, user, now=time.time())
        r = http.put(f"{dev}/devices/web/{device_id}/user", headers={"Authorization": f"Bearer {beams_token}"})
        assert r.status_code == 200, r.text
    return str(device_id)


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def row(page: Page, text: str, kind: str | None = None) -> Any:
    return page.locator(f'#events li[data-kind="{kind}"]' if kind else "#events li", has_text=text).first


def expect_row(page: Page, text: str, kind: str | None = None, timeout_ms: int = LOADED_MS) -> float:
    """Wait for an event row (of `kind`) containing `text`; returns the milliseconds it took."""
    from playwright.sync_api import expect

    began = time.monotonic()
    expect(row(page, text, kind)).to_be_visible(timeout=timeout_ms)
    return (time.monotonic() - began) * 1000


def log_in(page: Page, srv: InProcessServer, token: str) -> None:
    page.goto(f"{srv.http_url}/console/login")
    page.get_by_label("Console token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def test_the_console_in_a_browser(srv: InProcessServer) -> None:
    ensure_node_modules()
    sdk = pusher.Pusher(app_id=srv.app_id, key=srv.key, secret=srv.secret, host=srv.host, port=srv.port, ssl=False)
    errors: list[str] = []
    timings: dict[str, float] = {}
    with chromium() as browser, PushService() as push:
        page = browser.new_page(viewport={"width": 1366, "height": 820})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(LOADED_MS)

        # Nothing without the cookie; a wrong token is refused.
        page.goto(f"{srv.http_url}/console/apps/{srv.app_id}")
        assert page.url.endswith("/console/login")
        log_in(page, srv, "wrong-token")
        assert page.get_by_role("alert").inner_text() == "Wrong token."
        shot(page, "login")

        log_in(page, srv, TOKEN)
        page.wait_for_url(f"{srv.http_url}/console")
        page.get_by_role("link", name=srv.app_id).wait_for()
        assert srv.secret not in page.content() and SECRET not in page.content()
        shot(page, "index")

        page.get_by_role("link", name=srv.app_id).click()
        page.wait_for_url(f"**/console/apps/{srv.app_id}")
        page.locator("#status", has_text="live").wait_for()

        # The `pusher` Python SDK triggers: each event is on the page, with its payload.
        sent = time.monotonic()
        sdk.trigger("orders", "order-paid", {"order": 42, "total": "19.90"})
        expect_row(page, "order-paid", "event_triggered")
        timings["trigger"] = (time.monotonic() - sent) * 1000  # from before the SDK's request to on the page
        assert '"total": "19.90"' in row(page, "order-paid", "event_triggered").inner_text()

        # pusher-js (Node) sends client events.
        with AuthEndpoint(srv.app_id, srv.key, srv.secret, srv.host, srv.port) as endpoint:
            script = NodeScript("client_events.mjs", {
                "PUSHER_HOST": srv.host, "PUSHER_PORT": str(srv.port), "PUSHER_APP_ID": srv.app_id,
                "PUSHER_KEY": srv.key, "PUSHER_SECRET": srv.secret, "AUTH_ENDPOINT": endpoint.channel_auth_url,
                "COMPAT_SUFFIX": "console",
            }, timeout_ms=30_000)
            try:
                script.wait_for("received", timeout=30)
                timings["client_event"] = expect_row(page, "client-typing", "client_event_sent")
                assert '"text": "hi bob"' in row(page, "client-typing", "client_event_sent").inner_text()
                script.finish(timeout=30)
            finally:
                script.kill()

        with signed_in(srv, "alice"):
            expect_row(page, "alice", "signed_in")
            sdk.send_to_user("alice", "order-shipped", {"order": 42})
            expect_row(page, "order-shipped", "event_triggered")
            device = web_device_of(srv, push, "alice")
            publish = httpx.post(
                f"{srv.http_url}/publish_api/v1/instances/{IID}/publishes/users",
                headers={"Authorization": f"Bearer {SECRET}"}, timeout=30,
                json={"users": ["alice"], "web": {"notification": {"title": "Shipped", "body": "Order 42"}}},
            ).json()["publishId"]
            expect_row(page, device, "beams_delivered")
            shot(page, "stream")

            # Filter by user: only alice's events are left.
            page.get_by_label("User id").fill("alice")
            page.get_by_role("button", name="Apply filters").click()
            page.locator("#status", has_text="live").wait_for()  # the new stream is open
            sdk.trigger("orders", "not-for-alice", {})
            sdk.send_to_user("alice", "for-alice", {"n": 1})
            expect_row(page, "for-alice", "event_triggered")
            assert page.locator("#events li", has_text="not-for-alice").count() == 0
            shot(page, "stream-filtered")

            # Her timeline: the connection, the send_to_user event, the Beams publish and its device result.
            page.locator("#events a.user", has_text="alice").first.click()
            page.wait_for_url("**/users/alice")
            expect_row(page, "alice", "signed_in")
            expect_row(page, "order-shipped", "event_triggered")
            expect_row(page, publish, "beams_publish_accepted")
            expect_row(page, device, "beams_delivered")
            devices = page.locator("#devices")
            devices.locator("tr", has_text=device).wait_for()
            assert "sent" in devices.inner_text() and "web" in devices.inner_text()
            assert page.locator("#facts").inner_text().count("yes") == 1  # online
            sent = time.monotonic()
            sdk.send_to_user("alice", "live-on-timeline", {"n": 2})
            expect_row(page, "live-on-timeline", "event_triggered")
            timings["timeline_live"] = (time.monotonic() - sent) * 1000
            shot(page, "timeline")

        # Pause: nothing new is shown until Resume.
        page.get_by_role("button", name="Pause").click()
        sdk.send_to_user("alice", "while-paused", {})
        page.locator("#status", has_text="paused (").wait_for()
        assert page.locator("#events li", has_text="while-paused").count() == 0
        page.get_by_role("button", name="Resume").click()
        expect_row(page, "while-paused", "event_triggered")
        expect_row(page, "alice", "connection_closed")  # alice left: live on her timeline too
    assert errors == []
    print("shown after (ms):", {k: round(v) for k, v in timings.items()})
    # 1 s is the promise (measured and printed above); the slack is for a loaded test machine.
    assert all(v < LOADED_MS for v in timings.values())


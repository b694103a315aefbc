"""The /demo page in a real browser: Debian's chromium, headless, driven by Python playwright.

alice signs in watching bob; bob signs in from a second page (alice sees him online) and messages
alice from the page's send form; the test messages alice through the official `pusher` Python SDK's
send_to_user; bob leaves (alice sees him offline). A screenshot of alice's page is kept in
test-artifacts/demo.png.

Needs `apt-get install -y chromium` and the `playwright` Python package. Never `playwright install`:
it downloads a browser, which these machines cannot do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pusher
import pytest

from tests.support.browser import chromium
from tests.support.server import RunningServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.compat, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO_ROOT / "test-artifacts" / "demo.png"
TIMEOUT_MS = 10_000


@pytest.fixture
def demo_server(make_server: Callable[..., RunningServer]) -> RunningServer:
    return make_server(env={"TIDINGS_DEMO": "true"})


def open_demo(browser: Browser, server: RunningServer, errors: list[str]) -> Page:
    page = browser.new_page(viewport={"width": 1180, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.goto(f"{server.http_url}/demo?key={server.key}")
    return page


def sign_in(page: Page, user: str, watchlist: str = "") -> None:
    page.fill("#user-id", user)
    page.fill("#watchlist-input", watchlist)
    page.click("#signin-button")


def expect_text(page: Page, selector: str, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(selector).first).to_contain_text(text, timeout=TIMEOUT_MS)


def expect_watch_state(page: Page, user: str, state: str) -> None:
    from playwright.sync_api import expect

    item = page.locator(f'#watchlist li[data-user="{user}"]')
    expect(item).to_have_attribute("data-state", state, timeout=TIMEOUT_MS)


def test_demo_page_signin_watchlist_and_user_events(demo_server: RunningServer) -> None:
    with chromium() as browser:
        check_demo_flow(demo_server, browser)


def check_demo_flow(demo_server: RunningServer, browser: Browser) -> None:
    errors: list[str] = []
    alice = open_demo(browser, demo_server, errors)
    expect_text(alice, "#app-key", demo_server.key)

    sign_in(alice, "alice", "bob")
    expect_text(alice, "#signin-status", "Signed in as alice")
    expect_text(alice, "#connection-state", "connected")
    expect_watch_state(alice, "bob", "offline")

    bob = open_demo(browser, demo_server, errors)
    sign_in(bob, "bob", "alice")
    expect_text(bob, "#signin-status", "Signed in as bob")
    expect_watch_state(bob, "alice", "online")
    expect_watch_state(alice, "bob", "online")

    # bob messages alice from the page (POST /demo/send, the HTTP API's publish path).
    bob.fill("#send-to", "alice")
    bob.fill("#send-message", "hi alice, it's bob")
    bob.click("#send-button")
    expect_text(bob, "#send-result", "Delivered to 1 connection(s) of alice")
    expect_text(alice, '#log li[data-event="demo-message"]', "bob: hi alice, it's bob")

    # The official server SDK sends to alice: pusher-js routes it to pusher.user.bind(...).
    sdk = pusher.Pusher(
        app_id=demo_server.app_id, key=demo_server.key, secret=demo_server.secret,
        host=demo_server.host, port=demo_server.port, ssl=False, timeout=5,
    )
    sdk.send_to_user("alice", "demo-message", {"text": "hello from the test"})
    expect_text(alice, "#log", "hello from the test")
    sdk.send_to_user("alice", "other-event", {"n": 1})
    expect_text(alice, '#log li[data-event="other-event"]', '{"n":1}')

    bob.close()
    expect_watch_state(alice, "bob", "offline")
    expect_text(alice, '#log li[data-event="offline"]', "bob")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    alice.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 0

    # The page warns that demo mode signs in anyone.
    expect_text(alice, ".warning", "Development only")
    assert not errors, errors


def test_demo_page_rejects_invalid_user_name_in_page(demo_server: RunningServer) -> None:
    errors: list[str] = []
    with chromium() as browser:
        page = open_demo(browser, demo_server, errors)
        sign_in(page, "not a valid name")
        expect_text(page, "#signin-status", "invalid user name")
        expect_text(page, "#connection-state", "not connected")
    assert not errors, errors

"""The official Beams web SDK (@pusher/push-notifications-web 2.1.0, its CDN build) in headless Chromium.

The page is a small customer site on http://localhost:<port> (tests/compat/beams/web_harness.py) and the
client is `new PusherPushNotifications.Client({instanceId, endpointOverride: '<tidings http url>'})`, so every
device API call is cross-origin: Tidings must answer CORS preflights. The Push API is stubbed (no push
service is reachable from headless Chromium here): subscribe() returns subscriptions whose endpoints are on
the local push emulator and whose p256dh/auth keys are real. The Beams Token comes from the customer's
auth endpoint (tests/support/token_endpoint.py, the Python SDK's generate_token) via `TokenProvider`.

What the browser SDK does is checked through the device API (GET device with `requests`):
start() registers a web device ("web-..."), setUserId() associates it, getUserId() is local,
clearAllState() = stop() + start() gives a new device id, stop() deletes the device (GET -> 404).

Debian's chromium with the Python playwright package; never `playwright install`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.compat.beams.conftest import BeamsHttp, BeamsInstance, describe
from tests.compat.beams.web_harness import WebHarness, push_stub_script
from tests.support.browser import chromium
from tests.support.push_endpoint import PushService, Subscription
from tests.support.server import RunningServer
from tests.support.token_endpoint import TokenEndpoint

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = [pytest.mark.compat, pytest.mark.slow]

SDK_CALL_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def harness(beams_server: RunningServer, beams_node_modules: None) -> Iterator[WebHarness]:
    with WebHarness(beams_server.http_url) as site:
        yield site


@pytest.fixture(scope="module")
def token_endpoint(beams_instance: BeamsInstance) -> Iterator[TokenEndpoint]:
    with TokenEndpoint(beams_instance.id, beams_instance.secret) as endpoint:
        yield endpoint


class BeamsPage:
    """One browser tab on the harness site with a `window.beams` Client; SDK calls with a timeout each."""

    def __init__(self, context: BrowserContext, page: Page, log: list[str]) -> None:
        self.context = context
        self.page = page
        self.log = log

    def call(self, expression: str, arg: Any = None) -> Any:
        """Evaluate `async (arg) => <expression>` (with `beams` in scope); SDK errors fail the test with the log."""
        source = (
            "async (arg) => { const beams = window.beams; "
            f"return await window.__withTimeout((async () => {expression})(), {SDK_CALL_MS}, {expression!r}); }}"
        )
        try:
            return self.page.evaluate(source, arg)
        except Exception as exc:
            raise AssertionError(f"{expression} failed: {exc}\n--- browser log:\n" + "\n".join(self.log)) from None

    def push_log(self) -> dict[str, Any]:
        log: dict[str, Any] = self.page.evaluate("() => window.__beamsPush")
        return log


@pytest.fixture
def open_page(
    browser: Browser, harness: WebHarness, beams_instance: BeamsInstance, beams_server: RunningServer
) -> Iterator[Any]:
    contexts: list[BrowserContext] = []

    def _open(subscriptions: list[Subscription]) -> BeamsPage:
        context = browser.new_context(permissions=["notifications"])
        contexts.append(context)
        context.add_init_script(push_stub_script([s.to_json() for s in subscriptions]))
        page = context.new_page()
        log: list[str] = []
        page.on("console", lambda msg: log.append(f"console.{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: log.append(f"page error: {exc}"))
        page.on("requestfailed", lambda req: log.append(f"request failed: {req.method} {req.url} {req.failure}"))
        page.goto(harness.url, timeout=SDK_CALL_MS)
        beams_page = BeamsPage(context, page, log)
        beams_page.call(
            "{ window.beams = new PusherPushNotifications.Client("
            "{instanceId: arg.instanceId, endpointOverride: arg.endpoint}); return true; }",
            {"instanceId": beams_instance.id, "endpoint": beams_server.http_url},
        )
        return beams_page

    yield _open
    for context in contexts:
        context.close()


def test_start_set_user_id_get_user_id_clear_all_state_stop(
    open_page: Any, api: BeamsHttp, push_service: PushService, token_endpoint: TokenEndpoint, harness: WebHarness,
) -> None:
    first, second = push_service.new_subscription(), push_service.new_subscription()
    tab: BeamsPage = open_page([first, second])

    assert tab.call("beams.getRegistrationState()") == "PERMISSION_GRANTED_NOT_REGISTERED_WITH_BEAMS"
    assert tab.call("beams.getDeviceId()") is None

    # start(): GET web-vapid-public-key, pushManager.subscribe with that key, POST devices/web.
    device_id = tab.call("(await beams.start(), await beams.getDeviceId())")
    assert isinstance(device_id, str) and device_id.startswith("web-"), device_id
    subscribe_calls = tab.push_log()["subscribeCalls"]
    assert [c["applicationServerKey"] for c in subscribe_calls] == [api.vapid_public_key()], subscribe_calls
    assert subscribe_calls[0]["userVisibleOnly"] is True
    assert tab.call("beams.getToken()") == first.token  # what the SDK sent as the device token
    device = api.device(device_id)
    assert device["id"] == device_id and not device.get("userId"), device
    assert device.get("metadata", {}).get("sdkVersion") == "2.1.0", device
    assert tab.call("beams.getRegistrationState()") == "PERMISSION_GRANTED_REGISTERED_WITH_BEAMS"
    assert any(p.startswith("/service-worker.js?pusherBeamsWebSDKVersion=2.1.0") for p in harness.requests)
    # start() again is a no-op: same device, no new subscription.
    assert tab.call("(await beams.start(), await beams.getDeviceId())") == device_id
    assert len(tab.push_log()["subscribeCalls"]) == 1

    # setUserId(): TokenProvider GETs the customer's auth endpoint, then PUT .../user with the Beams Token.
    calls_before = len(token_endpoint.calls)
    tab.call(
        "beams.setUserId('alice', new PusherPushNotifications.TokenProvider({url: arg}))", token_endpoint.url
    )
    new_calls = token_endpoint.calls[calls_before:]
    assert [(c.query.get("user_id"), c.status) for c in new_calls] == [("alice", 200)], new_calls
    assert api.device(device_id)["userId"] == "alice"
    assert tab.call("beams.getUserId()") == "alice"

    # Apps call setUserId on every page load: the same user again must succeed (the SDK PUTs again).
    tab.call(
        "beams.setUserId('alice', new PusherPushNotifications.TokenProvider({url: arg}))", token_endpoint.url
    )
    assert len(token_endpoint.calls) == calls_before + 2
    assert api.device(device_id)["userId"] == "alice"

    # clearAllState() = stop() (DELETE device) + start() (new subscription, new device).
    new_device_id = tab.call("(await beams.clearAllState(), await beams.getDeviceId())")
    assert isinstance(new_device_id, str) and new_device_id.startswith("web-"), new_device_id
    assert new_device_id != device_id
    gone = api.get_device(device_id)
    assert gone.status_code == 404, describe(gone)
    fresh = api.device(new_device_id)
    assert fresh["id"] == new_device_id and not fresh.get("userId"), fresh
    assert tab.call("beams.getUserId()") is None
    assert tab.call("beams.getToken()") == second.token

    # stop(): DELETE device (awaited; a non-2xx would reject), local state cleared.
    tab.call("beams.stop()")
    gone = api.get_device(new_device_id)
    assert gone.status_code == 404, describe(gone)
    assert tab.call("beams.getDeviceId()") is None
    assert tab.call("beams.getRegistrationState()") == "PERMISSION_GRANTED_NOT_REGISTERED_WITH_BEAMS"


def test_set_user_id_refused_by_the_auth_endpoint_leaves_device_alone(
    open_page: Any, api: BeamsHttp, push_service: PushService, token_endpoint: TokenEndpoint,
) -> None:
    tab: BeamsPage = open_page([push_service.new_subscription()])
    device_id = tab.call("(await beams.start(), await beams.getDeviceId())")
    message = tab.call(
        "beams.setUserId('forbidden-user', new PusherPushNotifications.TokenProvider({url: arg}))"
        ".then(() => 'resolved', (e) => e.message)",
        token_endpoint.url,
    )
    assert message.startswith("Unexpected status code 401"), message
    assert not api.device(device_id).get("userId")
    assert tab.call("beams.getUserId()") is None
    tab.call("beams.stop()")


def test_device_interests(open_page: Any, api: BeamsHttp, push_service: PushService) -> None:
    tab: BeamsPage = open_page([push_service.new_subscription()])
    device_id = tab.call("(await beams.start(), await beams.getDeviceId())")
    odd = "a,b;c=d@e.f-g_h"  # the SDK sends encodeURIComponent(interest): a%2Cb%3Bc%3Dd%40e.f-g_h

    tab.call("beams.addDeviceInterest('donuts')")
    tab.call("beams.addDeviceInterest(arg)", odd)
    tab.call("beams.addDeviceInterest('donuts')")  # adding twice is fine
    listed = tab.call("beams.getDeviceInterests()")
    assert sorted(listed["interests"]) == sorted(["donuts", odd]), listed
    assert api.interests(device_id) == sorted(["donuts", odd])

    tab.call("beams.setDeviceInterests(['x', 'y', 'x'])")
    assert api.interests(device_id) == ["x", "y"]
    tab.call("beams.removeDeviceInterest('x')")
    assert api.interests(device_id) == ["y"]
    tab.call("beams.clearDeviceInterests()")
    assert api.interests(device_id) == []
    assert tab.call("beams.getDeviceInterests()")["interests"] == []
    tab.call("beams.stop()")


def test_packaged_service_worker_activates(open_page: Any, push_service: PushService) -> None:
    """The package's own service worker (joined into a classic script by the harness) parses and activates."""
    tab: BeamsPage = open_page([push_service.new_subscription()])
    tab.call("beams.start()")
    active = tab.call("(async (reg) => [reg.active.scriptURL, reg.active.state])(await navigator.serviceWorker.ready)")
    assert "/service-worker.js?pusherBeamsWebSDKVersion=2.1.0" in active[0], active
    assert active[1] == "activated", active
    tab.call("beams.stop()")


def test_server_errors_reach_the_page(
    open_page: Any, api: BeamsHttp, push_service: PushService, token_endpoint: TokenEndpoint,
) -> None:
    """A 4xx from Tidings surfaces as the SDK's "Unexpected status code <status>: <error>, <description>", which
    needs CORS headers on error replies too (else the browser hides the body and fetch fails outright)."""
    tab: BeamsPage = open_page([push_service.new_subscription()])
    device_id = tab.call("(await beams.start(), await beams.getDeviceId())")
    r = api.delete_device(device_id)  # deleted behind the SDK's back
    assert r.status_code == 200, describe(r)
    message = tab.call(
        "beams.setUserId('alice', new PusherPushNotifications.TokenProvider({url: arg}))"
        ".then(() => 'resolved', (e) => e.message)",
        token_endpoint.url,
    )
    assert message.startswith("Unexpected status code 404: "), message
    assert "Cannot parse error response" not in message and "No description" not in message, message
    assert tab.call("beams.getUserId()") is None

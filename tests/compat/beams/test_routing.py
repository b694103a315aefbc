"""User-first routing with the official SDKs (docs/user-first-delivery.md): pusher-js 8.6.0 signed in as alice in
Node, a web
device of alice registered through the device API with a Beams Token, and publishes to users from the official
Beams server SDKs (Node @pusher/push-notifications-server 1.2.7 over HTTP, Python pusher-push-notifications
2.0.2 over HTTPS) carrying `"channels": {"event", "data"}` next to `web`.

Signed in: every tab gets the event through `pusher.user.bind` and the push service emulator gets nothing.
Signed out: the same publish reaches the push service and no socket. Both SDKs pass `channels` through
unchanged (they copy the body and add `users`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.compat.beams.conftest import BeamsHttp, BeamsInstance, describe
from tests.compat.beams.test_python_sdk import make_sdk
from tests.compat.nodejs import NodeScript
from tests.support.inprocess import InProcessServer, start_inprocess
from tests.support.push_endpoint import PushService, Subscription
from tests.support.server import RunningServer
from tests.support.tls import TlsFiles
from tests.support.user_auth import UserAuthEndpoint
from tidings.beams import tokens

pytestmark = [pytest.mark.compat, pytest.mark.slow]

STATUS_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def routed_server(tmp_path_factory: pytest.TempPathFactory, beams_instance: BeamsInstance) -> Iterator[RunningServer]:
    """Tidings with its default app linked to the Beams instance (TIDINGS_DEFAULT_APP_BEAMS_INSTANCE)."""
    env = {**beams_instance.env, "TIDINGS_DEFAULT_APP_BEAMS_INSTANCE": beams_instance.id}
    srv = start_inprocess(tmp_path_factory.mktemp("tidings-routing"), env=env)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def user_auth(routed_server: RunningServer) -> Iterator[UserAuthEndpoint]:
    with UserAuthEndpoint(routed_server.app_id, routed_server.key, routed_server.secret) as endpoint:
        yield endpoint


def web_device_of(api: BeamsHttp, push: PushService, instance: BeamsInstance, user: str) -> Subscription:
    """A browser's push subscription registered as a web device, then tied to `user` with a Beams Token."""
    subscription = push.new_subscription()
    device = api.register_web(subscription)
    api.set_user(device, tokens.issue(instance.id, instance.secret, user, now=time.time()))
    return subscription


def run_script(channels_port: int, beams_port: int, server: RunningServer, instance: BeamsInstance,
               auth: UserAuthEndpoint, user: str, tabs: int) -> NodeScript:
    script = NodeScript(
        "routing_users.mjs",
        {
            "PUSHER_HOST": server.host, "PUSHER_PORT": str(channels_port), "PUSHER_APP_ID": server.app_id,
            "PUSHER_KEY": server.key, "PUSHER_SECRET": server.secret,
            "USER_AUTH_ENDPOINT": auth.user_auth_url(), "USER_CHANNEL_AUTH_ENDPOINT": auth.channel_auth_url,
            "BEAMS_HOST": server.host, "BEAMS_PORT": str(beams_port), "BEAMS_INSTANCE_ID": instance.id,
            "BEAMS_SECRET_KEY": instance.secret, "ROUTED_USER": user, "TABS": str(tabs),
            "COMPAT_SUFFIX": uuid.uuid4().hex[:8],
        },
        timeout_ms=40_000,
    )
    try:
        script.finish(timeout=60)
    finally:
        script.kill()
    return script


def finished_status(api: BeamsHttp, publish_id: str) -> dict[str, Any]:
    """GET the publish's status until it is done (every route delivered, every device final)."""
    deadline = time.monotonic() + STATUS_TIMEOUT
    while True:
        r = api.request("GET", f"/publish_api/v1/instances/{api.instance.id}/publishes/{publish_id}",
                        headers={"Authorization": f"Bearer {api.instance.secret}"})
        assert r.status_code == 200, describe(r)
        body: dict[str, Any] = r.json()
        if body["status"] == "done":
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def user_channel_gone(server: InProcessServer, user: str) -> None:
    """Until no connection of the server holds the user's channel (the Node clients closed)."""
    deadline = time.monotonic() + 30
    while server.stack.ctx.hub.channel(server.app_id, f"#server-to-user-{user}") is not None:
        assert time.monotonic() < deadline, "the closed clients' subscriptions were not released"
        time.sleep(0.05)


def test_signed_in_tabs_get_the_event_and_no_push_then_signed_out_the_push(
    beams_node_modules: None, routed_server: InProcessServer, beams_instance: BeamsInstance,
    user_auth: UserAuthEndpoint, push_service: PushService,
) -> None:
    api = BeamsHttp(routed_server.http_url, beams_instance)
    alice = f"alice-{uuid.uuid4().hex[:8]}"
    subscription = web_device_of(api, push_service, beams_instance, alice)
    port = routed_server.port

    signed_in = run_script(port, port, routed_server, beams_instance, user_auth, alice, tabs=2)
    t = signed_in.transcript()
    received = signed_in.one("received")
    for tab in ("tab1", "tab2"):
        assert received[tab] == [{"name": "order-shipped", "data": {"order": 42, "items": ["book"]}}], t
    publish_id = signed_in.one("published")["value"]["publishId"]
    status = finished_status(api, publish_id)
    assert status["routing"] == {"socket": 1, "push": 0, "pending": 0}, status
    assert status["devices"]["sent"] == 0 and status["pending"] == 0, status
    assert push_service.received(subscription) == []  # done: nothing more can be sent for it

    user_channel_gone(routed_server, alice)
    signed_out = run_script(port, port, routed_server, beams_instance, user_auth, alice, tabs=0)
    publish_id = signed_out.one("published")["value"]["publishId"]
    message = push_service.wait_for(subscription, timeout=30)
    notification = json.loads(subscription.decrypt(message.body))
    assert notification["notification"]["title"] == "Shipped", notification
    assert notification["data"]["pusher"]["publishId"] == publish_id, notification
    status = finished_status(api, publish_id)
    assert status["routing"] == {"socket": 0, "push": 1, "pending": 0}, status
    assert status["devices"]["sent"] == 1, status
    assert len(push_service.received(subscription)) == 1


def test_the_python_sdk_passes_channels_through(
    beams_tls_server: RunningServer, beams_instance: BeamsInstance, tls_files: TlsFiles, push_service: PushService
) -> None:
    """beams_tls_server's default app and instance were created together: the embedded default links them."""
    api = BeamsHttp(f"https://{beams_tls_server.host}:{beams_tls_server.port}", beams_instance,
                    verify=str(tls_files.ca))
    bob = f"bob-{uuid.uuid4().hex[:8]}"
    subscription = web_device_of(api, push_service, beams_instance, bob)
    sdk = make_sdk(beams_tls_server, tls_files, beams_instance.id, beams_instance.secret)
    body = {"web": {"notification": {"title": "Python"}}, "channels": {"event": "order-shipped", "data": "42"}}
    publish_id = sdk.publish_to_users([bob], body)["publishId"]
    status = finished_status(api, publish_id)
    assert status["routing"] == {"socket": 0, "push": 1, "pending": 0}, status  # bob is not signed in
    push_service.wait_for(subscription, timeout=30)

    # A bad `channels` object is refused with a Beams error body, and nothing is stored.
    r = api.publish("users", {"users": [bob], **body, "channels": {"event": "", "data": "x"}})
    assert r.status_code == 400 and r.json()["error"] == "Bad request", describe(r)
    assert r.json()["description"].startswith("`channels.event`"), describe(r)

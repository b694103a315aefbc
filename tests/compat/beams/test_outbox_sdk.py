"""The push outbox through the official Beams server SDKs (docs/outbox.md): an instance in outbox mode
(TIDINGS_DEFAULT_INSTANCE_OUTBOX=true), devices registered as the SDKs register them, a publish made with the Node
SDK (plain HTTP) and with the Python SDK (HTTPS), then the outbox read over its HTTP API: what each device would
have received, the Web Push payload already decrypted by the outbox (the test decrypts nothing), and nothing sent
to the push service."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pusher_push_notifications import PushNotifications

from tests.compat.beams.conftest import BeamsHttp, BeamsInstance, wait_ready_tls
from tests.compat.beams.test_python_sdk import make_sdk
from tests.compat.nodejs import NodeScript
from tests.support.inprocess import InProcessServer, start_inprocess
from tests.support.push_endpoint import PushService
from tests.support.tls import TlsFiles

pytestmark = [pytest.mark.compat, pytest.mark.slow]

WAIT = 30.0


def outbox_env(instance: BeamsInstance, tls: TlsFiles | None = None) -> dict[str, str]:
    env = {**instance.env, "TIDINGS_DEFAULT_INSTANCE_OUTBOX": "true"}
    if tls is not None:
        env.update(TIDINGS_TLS_CERT=str(tls.cert), TIDINGS_TLS_KEY=str(tls.key))
    return env


def read_outbox(base_url: str, instance: BeamsInstance, count: int, user_id: str | None = None,
                verify: str | bool = True) -> list[dict[str, Any]]:
    """GET /outbox_api/v1/instances/{id}/notifications until it holds `count` notifications (30 s at most)."""
    params = {"user_id": user_id} if user_id else {}
    deadline = time.monotonic() + WAIT
    while True:
        reply = requests.get(f"{base_url}/outbox_api/v1/instances/{instance.id}/notifications", params=params,
                             headers={"Authorization": f"Bearer {instance.secret}"}, timeout=10, verify=verify)
        assert reply.status_code == 200, reply.text
        found: list[dict[str, Any]] = reply.json()["notifications"]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{len(found)} notification(s) in the outbox after {WAIT}s: {found}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def push_service() -> Iterator[PushService]:
    with PushService() as service:
        yield service


@pytest.fixture(scope="module")
def node_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessServer, BeamsInstance]]:
    instance = BeamsInstance.new()
    server = start_inprocess(tmp_path_factory.mktemp("outbox-node"), env=outbox_env(instance))
    yield server, instance
    server.stop()


def test_node_sdk_publish_lands_in_the_outbox(
    beams_node_modules: None, node_server: tuple[InProcessServer, BeamsInstance], push_service: PushService,
) -> None:
    server, instance = node_server
    api = BeamsHttp(server.http_url, instance)
    user, interest = f"alice-{uuid.uuid4().hex[:6]}", f"news-{uuid.uuid4().hex[:6]}"
    subscription = push_service.new_subscription()
    web = api.register_web(subscription)
    fcm = api.register_fcm(f"fcm-{uuid.uuid4().hex}")
    other = api.register_web(push_service.new_subscription())  # an interest subscriber, no user
    api.set_interests(other, [interest])

    script = NodeScript("beams_outbox.mjs", {
        "BEAMS_HOST": server.host, "BEAMS_PORT": str(server.port), "BEAMS_INSTANCE_ID": instance.id,
        "BEAMS_SECRET_KEY": instance.secret, "BEAMS_USER_ID": user, "BEAMS_INTEREST": interest,
        "BEAMS_DEVICES": json.dumps([["web", web], ["fcm", fcm]]),
    }, timeout_ms=20_000)
    try:
        script.finish(timeout=30)
    finally:
        script.kill()
    t = script.transcript()
    assert [e["status"] for e in script.events("set_user")] == [200, 200], t
    to_users, to_interests = script.one("publish_to_users"), script.one("publish_to_interests")
    assert to_users["ok"] and to_interests["ok"], t

    alice = read_outbox(server.http_url, instance, 2, user_id=user)
    assert {(n["platform"], n["deviceId"]) for n in alice} == {("web", web), ("fcm", fcm)}
    assert all(n["publishId"] == to_users["value"]["publishId"] for n in alice)
    assert all(n["notification"] == {"title": "Order shipped", "body": "#42"} for n in alice)
    by_platform = {n["platform"]: n for n in alice}
    web_request = by_platform["web"]["request"]
    assert web_request["url"] == subscription.endpoint and web_request["bodyEncoding"] == "base64"
    assert web_request["payload"]["notification"]["deep_link"] == "https://example.com/orders/42"
    assert web_request["payload"]["data"]["pusher"]["publishId"] == to_users["value"]["publishId"]
    fcm_message = json.loads(by_platform["fcm"]["request"]["body"])["message"]
    assert fcm_message["data"]["order"] == "42" and "<masked>" in by_platform["fcm"]["request"]["headers"][
        "Authorization"]

    everything = read_outbox(server.http_url, instance, 3)
    news = [n for n in everything if n["publishId"] == to_interests["value"]["publishId"]]
    assert [(n["deviceId"], n["userId"], n["notification"]["title"]) for n in news] == [(other, None, "Breaking")]
    assert push_service.messages == []  # kept, not sent


def test_python_sdk_publish_lands_in_the_outbox(
    tmp_path: Path, tls_files: TlsFiles, push_service: PushService,
) -> None:
    instance = BeamsInstance.new()
    server = start_inprocess(tmp_path / "outbox-python", env=outbox_env(instance, tls_files))
    try:
        wait_ready_tls(server, tls_files)
        base = f"https://{server.host}:{server.port}"
        api = BeamsHttp(base, instance, verify=str(tls_files.ca))
        sdk: PushNotifications = make_sdk(server, tls_files, instance.id, instance.secret)
        user = f"bob-{uuid.uuid4().hex[:6]}"
        device = api.register_web(push_service.new_subscription())
        api.set_user(device, sdk.generate_token(user)["token"])
        reply = sdk.publish_to_users(user_ids=[user], publish_body={
            "web": {"notification": {"title": "Hi Bob", "body": "from Python"}}})
        (kept,) = read_outbox(base, instance, 1, user_id=user, verify=str(tls_files.ca))
        assert kept["publishId"] == reply["publishId"] and kept["deviceId"] == device
        assert kept["notification"] == {"title": "Hi Bob", "body": "from Python"}
        assert kept["request"]["payload"]["notification"]["title"] == "Hi Bob"
        status = api.request("GET", f"/publish_api/v1/instances/{instance.id}/publishes/{reply['publishId']}",
                             headers={"Authorization": f"Bearer {instance.secret}"}).json()
        assert status["devices"]["sent"] == 1, status  # recorded sent, with the outbox marker
    finally:
        server.stop()

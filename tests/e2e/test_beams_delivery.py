"""Beams end to end: a real `tidings serve` delivering one publish to users to Web Push, APNs and FCM emulators.

Set up as an operator and the apps would: the gateways' URLs and CA from the environment (TIDINGS_APNS_URL,
TIDINGS_FCM_URL, TIDINGS_FCM_TOKEN_URL, TIDINGS_GATEWAY_CA_FILE), credentials with `tidings instances configure`
(the APNs .p8 key the emulator trusts, an FCM service-account file, a Beams webhook), devices registered through
the device API and tied to user alice with a Beams Token from the official Python SDK's `generate_token`, and the
publish made with the SDK's `publish_to_users` (over HTTPS: the SDK only speaks https).

Checked: each emulator got what the client SDKs need (the Web Push payload decrypts with the subscriber's key and
carries data.pusher; APNs data.pusher; FCM data.pusher as a JSON string), the status endpoint and
`tidings publishes show` count sent=3 (and removed=1), the device whose push service answered 410 is gone, and
the Beams webhook receiver got a signed v1.PublishToUsersAttempt (then a v1.UserNotificationOpen once the web
device reports the notification opened).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pusher_push_notifications import PushNotifications

from tests.compat.beams.conftest import BeamsHttp, BeamsInstance, describe, wait_ready_tls
from tests.support.emulators.apns import ApnsEmulator
from tests.support.emulators.fcm import FcmEmulator
from tests.support.emulators.webpush import WebPushEmulator, token_for
from tests.support.server import RunningServer, tidings_cli
from tests.support.tls import TlsFiles, make_tls_files
from tests.support.webhook_sink import Delivery, WebhookSink

pytestmark = [pytest.mark.compat, pytest.mark.slow]

TOPIC = "com.example.tidings"
WEBHOOK_SECRET = "e2e-webhook-secret"
PUBLISH_BODY: dict[str, Any] = {
    "web": {"notification": {"title": "Hello alice", "body": "from Tidings"}, "data": {"order": 42}},
    "apns": {"aps": {"alert": {"title": "Hello alice", "body": "from Tidings"}}, "data": {"order": 42}},
    "fcm": {"notification": {"title": "Hello alice", "body": "from Tidings"}, "data": {"order": "42"}},
}


@pytest.fixture
def webpush() -> Iterator[WebPushEmulator]:
    with WebPushEmulator() as emulator:
        yield emulator


@pytest.fixture
def apns() -> Iterator[ApnsEmulator]:
    with ApnsEmulator() as emulator:
        yield emulator


@pytest.fixture
def fcm() -> Iterator[FcmEmulator]:
    with FcmEmulator() as emulator:
        yield emulator


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as s:
        yield s


def configure(server: RunningServer, instance_id: str, *args: str) -> str:
    done = tidings_cli("instances", "configure", instance_id, *args, data_dir=server.data_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def sdk_client(server: RunningServer, tls: TlsFiles, instance: BeamsInstance) -> PushNotifications:
    client = PushNotifications(instance.id, instance.secret, endpoint=f"{server.host}:{server.port}")
    client.session.verify = str(tls.ca)  # the SDK calls session.send(): REQUESTS_CA_BUNDLE would be ignored
    client.session.trust_env = False
    return client


def wait_until(what: str, check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def signed_body(delivery: Delivery) -> dict[str, Any]:
    expected = hmac.new(WEBHOOK_SECRET.encode(), delivery.body, hashlib.sha1).hexdigest()
    assert delivery.header("Webhook-Signature") == expected, delivery.headers
    body = delivery.json
    assert delivery.header("Webhook-Event-Type") == body["metadata"]["event_type"]
    assert body["metadata"]["product"] == "beams"
    return dict(body)


def test_publish_to_users_reaches_every_gateway(
    webpush: WebPushEmulator, apns: ApnsEmulator, fcm: FcmEmulator, sink: WebhookSink,
    make_process_server: Callable[..., RunningServer], tmp_path: Path,
) -> None:
    # The whole journey through `tidings serve` as a user runs it (TLS, the CLI next to it): a subprocess.
    # make_process_server last: the server stops first, so no emulator waits on its kept-alive connections at teardown.
    instance = BeamsInstance.new()
    tls = make_tls_files(tmp_path / "tls")
    server = make_process_server(
        env={
            **instance.env,
            "TIDINGS_APNS_URL": apns.url,
            "TIDINGS_APNS_SANDBOX_URL": apns.sandbox_url,
            "TIDINGS_FCM_URL": fcm.url,
            "TIDINGS_FCM_TOKEN_URL": fcm.token_url,
            "TIDINGS_GATEWAY_CA_FILE": str(apns.ca_file),
        },
        args=("--tls-cert", str(tls.cert), "--tls-key", str(tls.key)),
        wait=False,
    )
    wait_ready_tls(server, tls)
    base_url = f"https://{server.host}:{server.port}"
    api = BeamsHttp(base_url, instance, verify=str(tls.ca))

    # -- the operator: credentials and a webhook, through the CLI, against the running server's database -------
    key = apns.add_key()
    key_file = tmp_path / f"AuthKey_{key.key_id}.p8"
    key_file.write_text(key.private_key_pem)
    account = fcm.new_service_account("tidings-e2e")
    account_file = tmp_path / "service-account.json"
    account_file.write_text(json.dumps(account.info))
    out = configure(server, instance.id, "--apns-key-file", str(key_file), "--apns-key-id", key.key_id,
                    "--apns-team-id", key.team_id, "--apns-topic", TOPIC, "--apns-environment", "production",
                    "--fcm-service-account", str(account_file), "--vapid-subject", "mailto:ops@example.com",
                    "--webhook-url", sink.url, "--webhook-secret", WEBHOOK_SECRET)
    for secret in (key.private_key_pem.splitlines()[1], account.private_key_pem.splitlines()[1], WEBHOOK_SECRET):
        assert secret not in out

    # -- the apps: four devices of alice (one web subscription will be gone at its push service) -------------------
    sdk = sdk_client(server, tls, instance)
    alice_token = sdk.generate_token("alice")["token"]
    vapid_key = api.vapid_public_key()
    web_sub = webpush.new_subscription(application_server_key=vapid_key)
    dead_sub = webpush.new_subscription(application_server_key=vapid_key)
    webpush.answer(410, subscription=dead_sub)
    apns_token = apns.register_device(topic=TOPIC)
    fcm_token = f"fcm-{uuid.uuid4().hex}"

    def register(platform: str, body: dict[str, Any]) -> str:
        r = api.request("POST", api.device_path(f"/devices/{platform}"), json=body)
        assert r.status_code == 200, describe(r)
        device_id = str(r.json()["id"])
        api.set_user(device_id, alice_token, platform)
        return device_id

    web_id = register("web", {"token": token_for(web_sub), "metadata": {"sdkVersion": "2.1.0"}})
    dead_id = register("web", {"token": token_for(dead_sub), "metadata": {"sdkVersion": "2.1.0"}})
    apns_id = register("apns", {"token": apns_token, "bundleIdentifier": TOPIC, "metadata": {"sdkVersion": "4.0.0"}})
    fcm_id = register("fcm", {"token": fcm_token, "knownPreviousClientIds": [], "metadata": {"sdkVersion": "1.9.2"}})

    # -- the customer's server: one publish to alice (and bob, who has no device) -----------------------------------
    publish_id = sdk.publish_to_users(user_ids=["alice", "bob"], publish_body=PUBLISH_BODY)["publishId"]

    # -- what each gateway got --------------------------------------------------------------------------------------
    pusher_meta = {"instanceId": instance.id, "publishId": publish_id}
    (web_push,) = webpush.wait_for(1, subscription=web_sub, timeout=20)
    assert web_push.status == 201
    assert web_push.message["notification"] == PUBLISH_BODY["web"]["notification"]
    assert web_push.message["data"]["order"] == 42
    assert pusher_meta.items() <= web_push.message["data"]["pusher"].items()
    assert web_push.claims is not None and web_push.claims["sub"] == "mailto:ops@example.com"

    (apns_push,) = apns.wait_for(1, timeout=20)
    assert apns_push.token == apns_token and apns_push.headers.get("apns-topic") == TOPIC
    assert pusher_meta.items() <= apns_push.body["data"]["pusher"].items()
    assert apns_push.body["aps"]["alert"] == PUBLISH_BODY["apns"]["aps"]["alert"]

    (fcm_push,) = fcm.wait_for(1, timeout=20)
    assert fcm_push.token == fcm_token and fcm_push.project == "tidings-e2e"
    pusher_data = fcm_push.message["data"]["pusher"] if fcm_push.message else None
    assert isinstance(pusher_data, str), fcm_push  # FCM data values are strings: the SDK parses this JSON
    assert pusher_meta.items() <= json.loads(pusher_data).items()

    # -- what the server says about it --------------------------------------------------------------------------------
    def finished() -> dict[str, Any] | None:
        r = api.request("GET", f"/publish_api/v1/instances/{instance.id}/publishes/{publish_id}",
                        headers={"Authorization": f"Bearer {instance.secret}"})
        assert r.status_code == 200, describe(r)
        body = r.json()
        return body if body["status"] == "done" else None

    status = wait_until("the publish to finish", finished)
    assert status["devices"] == {"sent": 3, "failed": 0, "removed": 1, "skipped": 0}, status
    assert status["pending"] == 0, status
    shown = tidings_cli("publishes", "show", publish_id, "--instance", instance.id, "--json", data_dir=server.data_dir)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["devices"]["sent"] == 3
    assert api.get_device(dead_id, "web").status_code == 404  # the push service said 410: the device is gone
    for device_id, platform in ((web_id, "web"), (apns_id, "apns"), (fcm_id, "fcm")):
        assert api.device(device_id, platform)["userId"] == "alice"

    # -- the Beams webhook -----------------------------------------------------------------------------------------
    sink.wait_for(lambda s: len(s.snapshot()) >= 1, "v1.PublishToUsersAttempt", timeout=20)
    attempt = signed_body(sink.snapshot()[0])
    assert attempt["metadata"]["event_type"] == "v1.PublishToUsersAttempt"
    assert attempt["payload"] == {
        "instance_id": instance.id,
        "publish_id": publish_id,
        "users_delivered_to_gateway": ["alice"],
        "users_no_devices": ["bob"],
        "users_gateway_failed": [],
    }

    # The web SDK's service worker reports the click; the webhook names the device's user.
    report = {"event": "open", "publishId": publish_id, "deviceId": web_id, "userId": None,
              "timestampSecs": int(time.time())}
    r = api.request("POST", f"/reporting_api/v2/instances/{instance.id}/events", json=report)
    assert r.status_code == 200, describe(r)
    sink.wait_for(lambda s: len(s.snapshot()) >= 2, "v1.UserNotificationOpen", timeout=20)
    opened = signed_body(sink.snapshot()[1])
    assert opened["metadata"]["event_type"] == "v1.UserNotificationOpen"
    assert opened["payload"] == {"instance_id": instance.id, "publish_id": publish_id, "user_id": "alice"}
    assert requests.get(f"{base_url}/ready", verify=str(tls.ca), timeout=5).status_code == 200

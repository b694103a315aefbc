"""The outbox renders each platform's gateway request as the provider would send it, credentials masked, and
the outbox provider keeps it instead of sending (docs/outbox.md)."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.push_endpoint import Subscription
from tidings.beams import vapid
from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.delivery.send import Sender
from tidings.providers.base import DeadToken, Delivered, Failed, Outcome, Retry, Skipped
from tidings.providers.outbox import MARKER, section
from tidings.providers.outbox.provider import OutboxProvider
from tidings.providers.outbox.render import MASKED, NO_PROJECT, Renderer

APNS_TOKEN = "ab" * 32


@dataclass
class Gateways:
    apns_url: str = "https://api.push.apple.com"
    apns_sandbox_url: str = "https://api.sandbox.push.apple.com"
    fcm_url: str = "https://fcm.googleapis.com"
    gateway_ca_file: None = None


def instance(**providers: Any) -> Instance:
    private_pem, public_b64 = vapid.generate_keypair()
    return Instance(id=str(uuid.uuid4()), secret_key="s3cret", vapid_private_key=private_pem,
                    vapid_public_key=public_b64, providers=providers)


def device(inst: Instance, platform: Platform, token: str, **extra: Any) -> Device:
    return Device(id=f"{platform.value}-{uuid.uuid4()}", instance_id=inst.id, platform=platform, token=token,
                  user_id="alice", **extra)


def publish(inst: Instance, **payload: Any) -> Publish:
    return Publish(id=f"pubid-{uuid.uuid4()}", instance_id=inst.id, kind="users", targets=("alice",),
                   payload=payload)


def rendered(outcome: dict[str, Any] | Outcome) -> dict[str, Any]:
    assert isinstance(outcome, dict), outcome
    return outcome


def test_web_push_request_is_encrypted_for_the_browser_with_the_plaintext_beside_it() -> None:
    inst = instance()
    sub = Subscription.create("https://push.example.net")
    pub = publish(inst, web={"notification": {"title": "Hi", "body": "there"}, "time_to_live": 60, "data": {"n": 1}})
    request = rendered(Renderer(Gateways()).render(inst, device(inst, Platform.WEB, sub.token), pub))

    assert request["method"] == "POST" and request["url"] == sub.endpoint
    headers = request["headers"]
    assert headers["TTL"] == "60" and headers["Content-Encoding"] == "aes128gcm"
    assert headers["Authorization"] == f"vapid t={MASKED}, k={inst.vapid_public_key}"
    assert request["bodyEncoding"] == "base64"
    # The body is the real RFC 8291 ciphertext: the subscriber's key opens it to exactly the payload shown.
    plaintext = sub.decrypt(base64.b64decode(request["body"]))
    assert json.loads(plaintext) == request["payload"]
    assert request["payload"]["notification"] == {"title": "Hi", "body": "there"}
    assert request["payload"]["data"]["pusher"]["publishId"] == pub.id
    assert request["notification"] == {"title": "Hi", "body": "there"}


def test_apns_request_needs_no_credentials_and_masks_the_provider_token() -> None:
    inst = instance()
    dev = device(inst, Platform.APNS, APNS_TOKEN, bundle_identifier="com.example.app")
    pub = publish(inst, apns={"aps": {"alert": {"title": "Order", "body": "#42"}}})
    request = rendered(Renderer(Gateways()).render(inst, dev, pub))

    assert request["url"] == f"https://api.push.apple.com/3/device/{APNS_TOKEN}"
    assert request["headers"]["apns-topic"] == "com.example.app"
    assert request["headers"]["apns-push-type"] == "alert"
    assert request["headers"]["authorization"] == f"bearer {MASKED}"
    body = json.loads(request["body"])
    assert body["aps"]["alert"]["title"] == "Order" and body["data"]["pusher"]["publishId"] == pub.id
    assert request["notification"] == {"title": "Order", "body": "#42"}


def test_apns_without_a_topic_fails_as_the_provider_would() -> None:
    inst = instance()
    dev = device(inst, Platform.APNS, APNS_TOKEN)
    outcome = Renderer(Gateways()).render(inst, dev, publish(inst, apns={"aps": {"alert": "x"}}))
    assert isinstance(outcome, Failed) and "apns-topic" in outcome.reason


def test_fcm_request_names_a_placeholder_project_without_a_service_account() -> None:
    inst = instance()
    dev = device(inst, Platform.FCM, "fcm-registration-token")
    request = rendered(Renderer(Gateways()).render(
        inst, dev, publish(inst, fcm={"notification": {"title": "Hey", "body": "you"}, "data": {"k": "v"}})
    ))
    assert request["url"] == f"https://fcm.googleapis.com/v1/projects/{NO_PROJECT}/messages:send"
    assert request["headers"]["Authorization"] == f"Bearer {MASKED}"
    message = json.loads(request["body"])["message"]
    assert message["token"] == "fcm-registration-token"
    assert message["notification"] == {"title": "Hey", "body": "you"} and message["data"]["k"] == "v"
    assert request["notification"] == {"title": "Hey", "body": "you"}


@pytest.mark.parametrize(
    ("platform", "token", "payload", "expected"),
    [
        (Platform.WEB, "not-a-subscription", {"web": {"notification": {"title": "x"}}}, DeadToken),
        (Platform.WEB, "irrelevant", {"fcm": {}}, Skipped),
        (Platform.APNS, "zz", {"apns": {"aps": {"alert": "x"}}}, DeadToken),
        (Platform.FCM, "tok", {"web": {}}, Skipped),
    ],
)
def test_what_the_provider_would_refuse_is_refused_the_same_way(
    platform: Platform, token: str, payload: dict[str, Any], expected: type
) -> None:
    inst = instance()
    outcome = Renderer(Gateways()).render(inst, device(inst, platform, token), publish(inst, **payload))
    assert isinstance(outcome, expected), outcome


def test_an_oversize_web_push_message_fails_with_413() -> None:
    inst = instance()
    sub = Subscription.create("https://push.example.net")
    pub = publish(inst, web={"notification": {"title": "x" * 5000}})
    outcome = Renderer(Gateways()).render(inst, device(inst, Platform.WEB, sub.token), pub)
    assert isinstance(outcome, Failed) and outcome.status == 413


class Inner:
    platform = Platform.WEB

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        self.sent.append(instance.id)
        return Delivered(201)

    async def close(self) -> None:
        return None


async def test_outbox_instances_are_kept_and_recorded_sent_with_the_marker_others_are_sent() -> None:
    kept: list[tuple[str, dict[str, Any]]] = []

    async def keep(inst: Instance, dev: Device, pub: Publish, request: dict[str, Any]) -> None:
        kept.append((dev.id, request))

    inner = Inner()
    provider = OutboxProvider(inner, Renderer(Gateways()), keep)
    sub = Subscription.create("https://push.example.net")
    on, off = instance(outbox=section(True)), instance(outbox=section(False))
    sender = Sender({Platform.WEB: provider}, rand=lambda: 0.5)
    now = datetime.now(UTC)
    results: list[Any] = []
    for inst in (on, off):
        dev = device(inst, Platform.WEB, sub.token)
        results.append(await sender.attempt(inst, dev, publish(inst, web={"notification": {"title": "t"}}), before=0,
                                            deadline=now + timedelta(minutes=5), now=lambda: now))
    kept_result, sent_result = results
    assert [r.outcome for r in results] == ["sent", "sent"]
    assert kept_result.reason == MARKER and kept_result.status_code is None
    assert sent_result.reason is None and sent_result.status_code == 201
    assert inner.sent == [off.id]
    assert len(kept) == 1 and kept[0][1]["notification"]["title"] == "t"


async def test_a_keeper_that_fails_makes_the_attempt_a_retry() -> None:
    async def keep(inst: Instance, dev: Device, pub: Publish, request: dict[str, Any]) -> None:
        raise OSError("database is gone")

    inst = instance(outbox=section(True))
    sub = Subscription.create("https://push.example.net")
    provider = OutboxProvider(Inner(), Renderer(Gateways()), keep)
    outcome = await provider.send(inst, device(inst, Platform.WEB, sub.token),
                                  publish(inst, web={"notification": {"title": "t"}}))
    assert isinstance(outcome, Retry) and "OSError" in outcome.reason

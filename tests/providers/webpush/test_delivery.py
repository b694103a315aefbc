"""End to end: WebPushProvider -> the Web Push emulator, which verifies VAPID and decrypts the message."""

from __future__ import annotations

import base64
import json
import socket
import ssl
from pathlib import Path

import jwt

from tests.providers.webpush.conftest import FakeClock, GatewaySettings, make_device, make_instance, make_publish
from tests.support.emulators.webpush import EmulatedSubscription, WebPushEmulator
from tests.support.tls import make_tls_files
from tidings.beams.models import Instance
from tidings.beams.payloads import web_push_message
from tidings.providers.base import DeadToken, Delivered, Failed, Retry, Skipped
from tidings.providers.webpush import WebPushProvider

WEB = {"notification": {"title": "Hello", "body": "World", "deep_link": "https://example.com"}, "data": {"k": 1}}


async def test_decrypted_message_is_the_beams_web_push_message(
    provider: WebPushProvider, push: WebPushEmulator, instance: Instance, subscription: EmulatedSubscription
) -> None:
    publish = make_publish(instance, web=WEB)

    outcome = await provider.send(instance, make_device(instance, subscription), publish)

    assert outcome == Delivered(201)
    [got] = push.received
    assert got.subscription_id == subscription.id
    assert got.message == web_push_message(instance.id, publish.id, WEB)
    assert got.message["data"]["pusher"] == {
        "instanceId": instance.id,
        "publishId": publish.id,
        "hasDisplayableContent": True,
        "hasData": True,
    }
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-encoding"] == "aes128gcm"


async def test_vapid_claims_and_key(
    provider: WebPushProvider,
    push: WebPushEmulator,
    instance: Instance,
    subscription: EmulatedSubscription,
    clock: FakeClock,
) -> None:
    await provider.send(instance, make_device(instance, subscription), make_publish(instance, web=WEB))

    [got] = push.received
    assert got.claims is not None
    assert got.claims["aud"] == push.origin
    assert got.claims["sub"] == "mailto:admin@localhost"
    assert got.claims["exp"] == int(clock.now) + 12 * 3600
    assert got.headers["authorization"] == f"vapid t={got.vapid_token}, k={instance.vapid_public_key}"
    assert jwt.get_unverified_header(got.vapid_token or "")["alg"] == "ES256"


async def test_vapid_subject_from_instance_options(provider: WebPushProvider, push: WebPushEmulator) -> None:
    instance = make_instance(web={"vapid_subject": "mailto:ops@example.com"})
    sub = push.new_subscription(application_server_key=instance.vapid_public_key)

    assert await provider.send(instance, make_device(instance, sub), make_publish(instance, web=WEB)) == Delivered(201)
    assert push.received[0].claims is not None
    assert push.received[0].claims["sub"] == "mailto:ops@example.com"


async def test_default_headers(
    provider: WebPushProvider, push: WebPushEmulator, instance: Instance, subscription: EmulatedSubscription
) -> None:
    await provider.send(instance, make_device(instance, subscription), make_publish(instance, web=WEB))

    headers = push.received[0].headers
    assert headers["ttl"] == "2419200"
    assert headers["urgency"] == "normal"
    assert "topic" not in headers


async def test_ttl_urgency_and_topic_from_the_web_payload(
    provider: WebPushProvider, push: WebPushEmulator, instance: Instance, subscription: EmulatedSubscription
) -> None:
    web = {**WEB, "time_to_live": 60, "urgency": "high", "topic": "score-update"}

    await provider.send(instance, make_device(instance, subscription), make_publish(instance, web=web))

    headers = push.received[0].headers
    assert (headers["ttl"], headers["urgency"], headers["topic"]) == ("60", "high", "score-update")


async def test_jwt_is_signed_once_then_reused_until_near_expiry(
    provider: WebPushProvider,
    push: WebPushEmulator,
    instance: Instance,
    subscription: EmulatedSubscription,
    clock: FakeClock,
) -> None:
    device = make_device(instance, subscription)
    for _ in range(3):
        assert await provider.send(instance, device, make_publish(instance, web=WEB)) == Delivered(201)
        clock.advance(3600)
    clock.advance(7 * 3600)  # 10 h in: 2 h left, still reused
    await provider.send(instance, device, make_publish(instance, web=WEB))
    clock.advance(3600 + 1)  # under an hour left: a fresh JWT
    await provider.send(instance, device, make_publish(instance, web=WEB))

    tokens = [got.vapid_token for got in push.received]
    assert all(got.status == 201 for got in push.received)
    assert len(set(tokens[:4])) == 1
    assert tokens[4] != tokens[0]


async def test_each_instance_signs_with_its_own_key(provider: WebPushProvider, push: WebPushEmulator) -> None:
    first, second = make_instance(), make_instance()
    for instance in (first, second):
        sub = push.new_subscription(application_server_key=instance.vapid_public_key)
        assert await provider.send(instance, make_device(instance, sub), make_publish(instance, web=WEB)) == Delivered(
            201
        )
    assert push.received[0].vapid_token != push.received[1].vapid_token


async def test_subscription_made_with_another_vapid_key_is_failed(
    provider: WebPushProvider, push: WebPushEmulator, instance: Instance
) -> None:
    other = make_instance()
    sub = push.new_subscription(application_server_key=other.vapid_public_key)

    outcome = await provider.send(instance, make_device(instance, sub), make_publish(instance, web=WEB))

    assert isinstance(outcome, Failed)
    assert outcome.status == 403
    assert "applicationServerKey" in outcome.reason  # the push service's reason is kept for the operator


async def test_skipped_without_web_payload(
    provider: WebPushProvider, push: WebPushEmulator, instance: Instance, subscription: EmulatedSubscription
) -> None:
    publish = make_publish(instance, apns={"aps": {"alert": "hi"}})

    assert isinstance(await provider.send(instance, make_device(instance, subscription), publish), Skipped)
    assert push.received == []


async def test_connection_refused_is_retry(
    provider: WebPushProvider, push: WebPushEmulator, instance: Instance
) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sub = push.new_subscription()
    moved = {**sub.to_json(), "endpoint": f"http://127.0.0.1:{port}/push/{sub.id}"}
    token = base64.b64encode(json.dumps(moved).encode()).decode()

    outcome = await provider.send(instance, make_device(instance, token), make_publish(instance, web=WEB))

    assert isinstance(outcome, Retry)
    assert outcome.status == 0 and outcome.after is None


async def test_undecodable_token_is_dead(provider: WebPushProvider, instance: Instance) -> None:
    outcome = await provider.send(instance, make_device(instance, "bm90IGpzb24="), make_publish(instance, web=WEB))

    assert isinstance(outcome, DeadToken)


async def test_oversize_message_is_failed_before_sending(
    provider: WebPushProvider, push: WebPushEmulator, instance: Instance, subscription: EmulatedSubscription
) -> None:
    web = {"notification": {"title": "x"}, "data": {"blob": "a" * 4000}}

    outcome = await provider.send(instance, make_device(instance, subscription), make_publish(instance, web=web))

    assert isinstance(outcome, Failed) and outcome.status == 413
    assert push.received == []


async def test_largest_message_that_fits_is_delivered(
    provider: WebPushProvider, push: WebPushEmulator, instance: Instance, subscription: EmulatedSubscription
) -> None:
    publish = make_publish(instance, web={"notification": {}, "data": {"blob": ""}})
    base = len(json.dumps(web_push_message(instance.id, publish.id, publish.payload["web"]), separators=(",", ":")))
    fill = 4096 - 86 - 17 - base  # header, tag + delimiter: exactly 4096 bytes on the wire
    publish = publish.model_copy(update={"payload": {"web": {"notification": {}, "data": {"blob": "a" * fill}}}})

    outcome = await provider.send(instance, make_device(instance, subscription), publish)

    assert outcome == Delivered(201)
    assert len(push.received[0].message["data"]["blob"]) == fill


async def test_https_push_service_trusted_through_gateway_ca_file(tmp_path: Path, clock: FakeClock) -> None:
    tls = make_tls_files(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(str(tls.cert), str(tls.key))
    instance = make_instance()
    async with WebPushEmulator(ssl_context=server_context) as push:
        sub = push.new_subscription(application_server_key=instance.vapid_public_key)
        provider = WebPushProvider(GatewaySettings(gateway_ca_file=tls.ca), clock=clock)
        untrusting = WebPushProvider(GatewaySettings(), clock=clock)
        try:
            publish = make_publish(instance, web=WEB)
            assert await provider.send(instance, make_device(instance, sub), publish) == Delivered(201)
            assert push.origin.startswith("https://")
            # Not trusting the CA is a connection error like any other: retried until the pipeline's deadline.
            assert isinstance(await untrusting.send(instance, make_device(instance, sub), publish), Retry)
            assert len(push.received) == 1
        finally:
            await provider.close()
            await untrusting.close()

"""ApnsProvider against the emulator: what reaches the gateway, and over how many connections."""

from __future__ import annotations

import asyncio

import jwt

from tests.support.emulators.apns import ApnsEmulator, SigningKey
from tidings.beams.models import Device, Instance
from tidings.providers.apns import ApnsProvider
from tidings.providers.apns.token import REFRESH_AFTER
from tidings.providers.base import Delivered

from .conftest import ALERT, BUNDLE_ID, FakeClock, make_device, make_instance, make_publish


async def test_body_carries_the_customers_aps_and_data_plus_pusher_metadata(
    provider: ApnsProvider, apns: ApnsEmulator, instance: Instance, device: Device, token: str
) -> None:
    apns_section = {
        "aps": {"alert": {"title": "Hello", "body": "World"}, "badge": 3, "sound": "default", "thread-id": "t"},
        "data": {"order": 42, "nested": {"a": [1, 2]}},
    }
    publish = make_publish(instance, apns=apns_section)
    assert await provider.send(instance, device, publish) == Delivered(200)
    (received,) = apns.delivered(token)
    assert received.body == {
        "aps": apns_section["aps"],
        "data": {"order": 42, "nested": {"a": [1, 2]}, "pusher": {"instanceId": instance.id, "publishId": publish.id}},
    }
    assert received.environment == "production"
    assert received.http_version == "2"


async def test_alert_headers(
    provider: ApnsProvider, apns: ApnsEmulator, instance: Instance, device: Device, token: str
) -> None:
    publish = make_publish(instance, apns={**ALERT, "collapse_id": "scores", "expiration": 1_900_000_000})
    await provider.send(instance, device, publish)
    (received,) = apns.delivered(token)
    assert received.headers["apns-topic"] == BUNDLE_ID
    assert received.headers["apns-push-type"] == "alert"
    assert received.headers["apns-priority"] == "10"
    assert received.headers["apns-expiration"] == "1900000000"
    assert received.headers["apns-collapse-id"] == "scores"
    assert received.headers["content-type"] == "application/json"
    assert received.headers["authorization"].startswith("bearer ")


async def test_background_headers_and_explicit_priority(
    provider: ApnsProvider, apns: ApnsEmulator, instance: Instance, device: Device, token: str
) -> None:
    await provider.send(instance, device, make_publish(instance, apns={"aps": {"content-available": 1}}))
    await provider.send(instance, device, make_publish(instance, apns={**ALERT, "priority": 5}))
    background, alert = apns.delivered(token)
    assert (background.headers["apns-push-type"], background.headers["apns-priority"]) == ("background", "5")
    assert background.headers["apns-expiration"] == "0"
    assert "apns-collapse-id" not in background.headers
    assert (alert.headers["apns-push-type"], alert.headers["apns-priority"]) == ("alert", "5")


async def test_topic_from_settings_wins_over_the_bundle_identifier(
    provider: ApnsProvider, apns: ApnsEmulator, key: SigningKey
) -> None:
    instance = make_instance(key.settings(topic="com.example.shared"))
    token = apns.register_device(topic="com.example.shared")
    device = make_device(instance, token, bundle_identifier="com.example.other")
    assert await provider.send(instance, device, make_publish(instance, apns=ALERT)) == Delivered(200)
    assert apns.delivered(token)[0].headers["apns-topic"] == "com.example.shared"


async def test_one_jwt_for_many_sends_renewed_after_the_interval(
    provider: ApnsProvider, apns: ApnsEmulator, clock: FakeClock, instance: Instance, device: Device, token: str
) -> None:
    publish = make_publish(instance, apns=ALERT)
    for _ in range(5):
        clock.advance(60)
        assert await provider.send(instance, device, publish) == Delivered(200)
    assert len({r.jwt for r in apns.delivered(token)}) == 1

    clock.advance(REFRESH_AFTER)
    assert await provider.send(instance, device, publish) == Delivered(200)
    clock.advance(60)
    assert await provider.send(instance, device, publish) == Delivered(200)
    tokens = [r.jwt for r in apns.delivered(token)]
    assert len(set(tokens)) == 2 and tokens[-1] == tokens[-2] != tokens[0]
    assert jwt.decode(tokens[-1] or "", options={"verify_signature": False})["iat"] == int(clock.now) - 60


async def test_100_concurrent_sends_share_one_connection(
    provider: ApnsProvider, apns: ApnsEmulator, key: SigningKey
) -> None:
    instance = make_instance(key.settings())
    devices = [make_device(instance, apns.register_device(topic=BUNDLE_ID)) for _ in range(100)]
    publish = make_publish(instance, apns=ALERT)
    outcomes = await asyncio.gather(*(provider.send(instance, device, publish) for device in devices))
    assert outcomes == [Delivered(200)] * 100
    assert len(apns.delivered()) == 100
    assert len(apns.connections) == 1
    assert len({r.jwt for r in apns.delivered()}) == 1


async def test_many_instances_share_the_client_each_with_its_own_key(
    provider: ApnsProvider, apns: ApnsEmulator
) -> None:
    pairs = []
    for team in ("TEAM00000A", "TEAM00000B"):
        instance = make_instance(apns.add_key(team_id=team).settings())
        pairs.append((instance, make_device(instance, apns.register_device(topic=BUNDLE_ID))))
    for instance, device in pairs:
        assert await provider.send(instance, device, make_publish(instance, apns=ALERT)) == Delivered(200)
    issuers = [jwt.decode(r.jwt or "", options={"verify_signature": False})["iss"] for r in apns.delivered()]
    assert issuers == ["TEAM00000A", "TEAM00000B"]
    assert len(apns.connections) == 1


async def test_sandbox_or_production_gateway_per_instance(
    provider: ApnsProvider, apns: ApnsEmulator, key: SigningKey
) -> None:
    production = make_instance(key.settings())
    sandbox = make_instance(key.settings(environment="sandbox"))
    production_token = apns.register_device(topic=BUNDLE_ID)
    sandbox_token = apns.register_device(topic=BUNDLE_ID, environment="sandbox")

    for instance, token in ((production, production_token), (sandbox, sandbox_token)):
        outcome = await provider.send(instance, make_device(instance, token), make_publish(instance, apns=ALERT))
        assert outcome == Delivered(200)
    assert [(r.token, r.environment) for r in apns.delivered()] == [
        (production_token, "production"),
        (sandbox_token, "sandbox"),
    ]
    assert len(apns.connections) == 2  # one per gateway


async def test_from_settings_uses_the_configured_gateways(apns: ApnsEmulator, clock: FakeClock) -> None:
    class Settings:
        apns_url = apns.url
        apns_sandbox_url = apns.sandbox_url
        gateway_ca_file = apns.ca_file
        delivery_request_timeout = 5.0

    key = apns.add_key()
    instance = make_instance(key.settings(environment="sandbox"))
    device = make_device(instance, apns.register_device(environment="sandbox"))
    provider = ApnsProvider.from_settings(Settings(), clock=clock)
    try:
        assert await provider.send(instance, device, make_publish(instance, apns=ALERT)) == Delivered(200)
    finally:
        await provider.close()


async def test_a_client_passed_in_is_used_and_left_open(
    apns: ApnsEmulator, clock: FakeClock, instance: Instance, device: Device
) -> None:
    from tidings.providers.apns.client import new_http_client

    http = new_http_client(apns.ca_file)
    try:
        provider = ApnsProvider(apns.url, apns.sandbox_url, None, clock=clock, http=http)
        assert await provider.send(instance, device, make_publish(instance, apns=ALERT)) == Delivered(200)
        await provider.close()
        assert http.connections == 1
        assert await provider.send(instance, device, make_publish(instance, apns=ALERT)) == Delivered(200)
    finally:
        await http.aclose()
    assert http.connections == 0

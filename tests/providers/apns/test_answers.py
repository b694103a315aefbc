"""Each APNs answer, and each local refusal, becomes the right Outcome."""

from __future__ import annotations

import socket

import jwt
import pytest

from tests.support.emulators.apns import ApnsEmulator, SigningKey
from tidings.beams.models import Device, Instance
from tidings.providers.apns import ApnsProvider
from tidings.providers.base import DeadToken, Delivered, Failed, Outcome, Retry, Skipped

from .conftest import ALERT, BUNDLE_ID, FakeClock, make_device, make_instance, make_publish


@pytest.mark.parametrize(
    ("status", "reason", "retry_after", "outcome"),
    [
        (400, "BadDeviceToken", None, DeadToken("BadDeviceToken", 400)),
        (400, "DeviceTokenNotForTopic", None, DeadToken("DeviceTokenNotForTopic", 400)),
        (410, "ExpiredToken", None, DeadToken("ExpiredToken", 410)),
        (429, "TooManyRequests", None, Retry("TooManyRequests", None, 429)),
        (429, "TooManyRequests", "30", Retry("TooManyRequests", 30.0, 429)),
        (500, "InternalServerError", None, Retry("InternalServerError", None, 500)),
        (503, "ServiceUnavailable", "5", Retry("ServiceUnavailable", 5.0, 503)),
        (503, "Shutdown", None, Retry("Shutdown", None, 503)),
        (403, "InvalidProviderToken", None, Failed("InvalidProviderToken", 403)),
        (400, "BadTopic", None, Failed("BadTopic", 400)),
        (413, "PayloadTooLarge", None, Failed("PayloadTooLarge", 413)),
    ],
)
async def test_gateway_answers(
    provider: ApnsProvider,
    apns: ApnsEmulator,
    instance: Instance,
    device: Device,
    token: str,
    status: int,
    reason: str,
    retry_after: str | None,
    outcome: Outcome,
) -> None:
    apns.answer(token, status, reason, retry_after=retry_after)
    assert await provider.send(instance, device, make_publish(instance, apns=ALERT)) == outcome
    apns.answer(token, None)
    assert await provider.send(instance, device, make_publish(instance, apns=ALERT)) == Delivered(200)


async def test_unregistered_device_is_a_dead_token(
    provider: ApnsProvider, apns: ApnsEmulator, instance: Instance, device: Device, token: str
) -> None:
    apns.unregister(token)
    assert await provider.send(instance, device, make_publish(instance, apns=ALERT)) == DeadToken("Unregistered", 410)
    assert apns.received(token)[0].status == 410


async def test_unknown_or_wrong_topic_tokens_are_dead(
    provider: ApnsProvider, apns: ApnsEmulator, instance: Instance
) -> None:
    unknown = make_device(instance, "ab" * 32)
    other_app = make_device(instance, apns.register_device(topic="com.example.other"))
    publish = make_publish(instance, apns=ALERT)
    assert await provider.send(instance, unknown, publish) == DeadToken("BadDeviceToken", 400)
    assert await provider.send(instance, other_app, publish) == DeadToken("DeviceTokenNotForTopic", 400)


async def test_queued_answers_then_back_to_normal(
    provider: ApnsProvider, apns: ApnsEmulator, instance: Instance, device: Device
) -> None:
    apns.answer_next(2, 503)
    publish = make_publish(instance, apns=ALERT)
    outcomes = [await provider.send(instance, device, publish) for _ in range(3)]
    assert outcomes == [Retry("ServiceUnavailable", None, 503)] * 2 + [Delivered(200)]


async def test_expired_provider_token_renews_the_jwt_and_retries(
    provider: ApnsProvider, apns: ApnsEmulator, instance: Instance, device: Device, token: str
) -> None:
    publish = make_publish(instance, apns=ALERT)
    assert await provider.send(instance, device, publish) == Delivered(200)
    apns.answer_next(1, 403, "ExpiredProviderToken")
    assert await provider.send(instance, device, publish) == Retry("ExpiredProviderToken", None, 403)
    assert await provider.send(instance, device, publish) == Delivered(200)
    first, refused, retried = apns.received(token)
    assert first.jwt == refused.jwt != retried.jwt


async def test_a_token_apns_finds_too_old_is_renewed(
    apns: ApnsEmulator, clock: FakeClock, key: SigningKey, instance: Instance, device: Device
) -> None:
    # A provider whose cache outlives Apple's hour (a suspended host, a clock jump): APNs says expired, the next
    # send signs a fresh token and goes through.
    provider = ApnsProvider(apns.url, apns.sandbox_url, apns.ca_file, clock=clock)
    provider._tokens._refresh_after = 10 * 3600  # a stale cache, by hand: the real one renews in time
    try:
        publish = make_publish(instance, apns=ALERT)
        assert await provider.send(instance, device, publish) == Delivered(200)
        clock.advance(3601)
        assert await provider.send(instance, device, publish) == Retry("ExpiredProviderToken", None, 403)
        assert await provider.send(instance, device, publish) == Delivered(200)
    finally:
        await provider.close()


async def test_a_key_apple_does_not_know_fails(provider: ApnsProvider, apns: ApnsEmulator, key: SigningKey) -> None:
    unknown = make_instance(key.settings(key_id="UNKNOWN000"))
    device = make_device(unknown, apns.register_device(topic=BUNDLE_ID))
    outcome = await provider.send(unknown, device, make_publish(unknown, apns=ALERT))
    assert outcome == Failed("InvalidProviderToken", 403)


async def test_connection_errors_are_retried(
    clock: FakeClock, instance: Instance, device: Device, apns: ApnsEmulator
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{sock.getsockname()[1]}"
    provider = ApnsProvider(closed, closed, apns.ca_file, clock=clock)
    try:
        outcome = await provider.send(instance, device, make_publish(instance, apns=ALERT))
    finally:
        await provider.close()
    assert isinstance(outcome, Retry) and outcome.reason.startswith("ConnectError")


async def test_an_untrusted_gateway_certificate_is_retried_not_raised(
    clock: FakeClock, instance: Instance, device: Device, apns: ApnsEmulator
) -> None:
    provider = ApnsProvider(apns.url, apns.sandbox_url, None, clock=clock)  # the emulator's CA not trusted
    try:
        outcome = await provider.send(instance, device, make_publish(instance, apns=ALERT))
    finally:
        await provider.close()
    assert isinstance(outcome, Retry) and "CERTIFICATE_VERIFY_FAILED" in outcome.reason
    assert apns.requests == []


# -- decided without asking APNs -------------------------------------------------------------------------


async def test_skipped_without_an_apns_payload(
    provider: ApnsProvider, apns: ApnsEmulator, instance: Instance, device: Device
) -> None:
    outcome = await provider.send(instance, device, make_publish(instance, fcm={"notification": {"title": "x"}}))
    assert outcome == Skipped("the publish has no apns payload")
    assert apns.requests == []


async def test_skipped_without_apns_credentials(provider: ApnsProvider, apns: ApnsEmulator, token: str) -> None:
    instance = make_instance()
    outcome = await provider.send(instance, make_device(instance, token), make_publish(instance, apns=ALERT))
    assert outcome == Skipped("the instance has no APNs credentials")
    assert apns.requests == []


async def test_unusable_settings_fail_without_quoting_the_key(
    provider: ApnsProvider, apns: ApnsEmulator, key: SigningKey, token: str
) -> None:
    instance = make_instance(key.settings(team_id="not a team"))
    outcome = await provider.send(instance, make_device(instance, token), make_publish(instance, apns=ALERT))
    assert isinstance(outcome, Failed) and outcome.status == 0
    assert "team_id" in outcome.reason and "PRIVATE KEY" not in outcome.reason
    assert apns.requests == []


async def test_a_token_that_is_not_hex_is_dead_and_never_sent(
    provider: ApnsProvider, apns: ApnsEmulator, instance: Instance
) -> None:
    device = make_device(instance, "../../3/device/" + "ab" * 32)
    outcome = await provider.send(instance, device, make_publish(instance, apns=ALERT))
    assert isinstance(outcome, DeadToken) and outcome.status == 0
    assert apns.requests == []


async def test_no_topic_anywhere_fails(provider: ApnsProvider, apns: ApnsEmulator, instance: Instance) -> None:
    device = make_device(instance, apns.register_device(), bundle_identifier=None)
    outcome = await provider.send(instance, device, make_publish(instance, apns=ALERT))
    assert isinstance(outcome, Failed) and "apns-topic" in outcome.reason
    assert apns.requests == []


async def test_nothing_secret_in_outcomes(
    provider: ApnsProvider, apns: ApnsEmulator, instance: Instance, device: Device, token: str
) -> None:
    apns.answer(token, 403, "InvalidProviderToken")
    outcome = await provider.send(instance, device, make_publish(instance, apns=ALERT))
    sent_jwt = apns.received(token)[0].jwt or ""
    assert jwt.decode(sent_jwt, options={"verify_signature": False})  # a real JWT was sent...
    assert sent_jwt not in repr(outcome) and token not in repr(outcome)  # ...and neither it nor the token leaks

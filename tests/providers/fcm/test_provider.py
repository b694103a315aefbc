"""FcmProvider against the FCM emulator: what arrives, access tokens, and every answer's Outcome."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import ssl
from pathlib import Path

import pytest

from tests.providers.fcm.helpers import INSTANCE_ID, FakeClock, make_device, make_instance, make_publish
from tests.support import tls
from tests.support.emulators import fcm as emu
from tests.support.emulators.fcm import FcmEmulator, TestServiceAccount
from tidings.beams.payloads import FCM_OPEN_TRACKING_ACTION
from tidings.providers.base import DeadToken, Delivered, Failed, Outcome, Retry, Skipped
from tidings.providers.fcm import FcmProvider
from tidings.providers.fcm.credentials import ASSERTION_LIFETIME, REFRESH_MARGIN, SCOPE


async def send(provider: FcmProvider, account: TestServiceAccount, token: str | None = None, **kw: object) -> Outcome:
    publish = make_publish(kw.get("payload"))  # type: ignore[arg-type]
    return await provider.send(make_instance({"service_account": account.info}), make_device(token), publish)


# ------------------------------------------------------------------------------------------ what arrives
async def test_message_as_fcm_receives_it(fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider) -> None:
    payload = {
        "fcm": {
            "notification": {"title": "Hi", "body": "There", "icon": "ic", "android_channel_id": "news"},
            "data": {"score": 3, "who": "me"},
            "time_to_live": 120,
            "collapse_key": "scores",
            "priority": "normal",
        }
    }
    publish = make_publish(payload)
    outcome = await provider.send(make_instance({"service_account": account.info}), make_device("tok-1"), publish)
    assert outcome == Delivered(200)
    [got] = fcm.received
    assert got.project == "tidings-test" and got.status == 200 and got.token == "tok-1"
    assert got.message is not None
    assert got.message["notification"] == {"title": "Hi", "body": "There"}
    assert got.message["android"] == {
        "ttl": "120s",
        "priority": "NORMAL",
        "collapse_key": "scores",
        "notification": {"icon": "ic", "channel_id": "news", "click_action": FCM_OPEN_TRACKING_ACTION},
    }
    data = got.message["data"]
    assert data["score"] == "3" and data["who"] == "me"
    assert json.loads(data["pusher"]) == {
        "instanceId": INSTANCE_ID,
        "publishId": publish.id,
        "hasDisplayableContent": True,
        "hasData": True,
    }


async def test_project_override_is_the_url_project(fcm: FcmEmulator, provider: FcmProvider) -> None:
    account = fcm.new_service_account("other-project")
    instance = make_instance({"service_account": account.info, "project_id": "other-project"})
    assert await provider.send(instance, make_device(), make_publish()) == Delivered(200)
    assert fcm.received[-1].project == "other-project"


async def test_project_the_account_may_not_send_for_fails_without_killing_the_device(
    fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider
) -> None:
    instance = make_instance({"service_account": account.info, "project_id": "someone-elses"})
    outcome = await provider.send(instance, make_device(), make_publish())
    assert isinstance(outcome, Failed) and outcome.status == 403


# ------------------------------------------------------------------------------------------ access tokens
async def test_assertion_is_a_jwt_bearer_grant(
    fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider
) -> None:
    await send(provider, account)
    [request] = fcm.token_requests
    assert request.status == 200 and request.claims is not None
    claims = request.claims
    assert (claims["iss"], claims["aud"], claims["scope"]) == (account.client_email, fcm.token_url, SCOPE)
    assert claims["exp"] - claims["iat"] == ASSERTION_LIFETIME


async def test_one_token_serves_many_sends(
    fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider
) -> None:
    # Concurrent first sends: one refresh runs, the others wait for it rather than each fetching a token.
    outcomes = await asyncio.gather(*(send(provider, account) for _ in range(20)))
    outcomes += [await send(provider, account) for _ in range(5)]
    assert outcomes == [Delivered(200)] * 25
    assert fcm.tokens_issued == 1 and len(fcm.token_requests) == 1
    assert len({m.access_token for m in fcm.received}) == 1


async def test_token_is_refreshed_shortly_before_it_expires(
    fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider, clock: FakeClock
) -> None:
    await send(provider, account)
    clock.advance(fcm.expires_in - REFRESH_MARGIN - 1)
    await send(provider, account)
    assert fcm.tokens_issued == 1
    clock.advance(2)  # inside the margin: a send in flight must not carry a token about to die
    assert await send(provider, account) == Delivered(200)
    assert fcm.tokens_issued == 2
    first, *_, last = fcm.received
    assert first.access_token != last.access_token


async def test_short_lived_tokens_are_refreshed_at_half_life(
    fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider, clock: FakeClock
) -> None:
    fcm.expires_in = 60
    await send(provider, account)
    clock.advance(29)
    await send(provider, account)
    clock.advance(2)
    await send(provider, account)
    assert fcm.tokens_issued == 2


async def test_each_service_account_has_its_own_token(fcm: FcmEmulator, provider: FcmProvider) -> None:
    first, second = fcm.new_service_account("p1"), fcm.new_service_account("p2")
    for account in (first, second, first, second):
        assert await send(provider, account) == Delivered(200)
    assert fcm.tokens_issued == 2


async def test_rotated_key_gets_its_own_token_and_the_old_key_is_refused(
    fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider
) -> None:
    await send(provider, account)
    rotated = dataclasses.replace(account, private_key=emu.make_service_account(fresh_key=True).private_key)
    fcm.add_service_account(rotated)  # same client_email and key id, new key: the old one no longer verifies
    assert await send(provider, rotated) == Delivered(200)
    assert fcm.tokens_issued == 2
    fresh = FcmProvider(fcm.url, fcm.token_url, None)
    try:
        outcome = await send(fresh, account)
    finally:
        await fresh.close()
    assert isinstance(outcome, Retry) and "invalid_grant" in outcome.reason


async def test_401_drops_the_token_and_the_next_send_gets_a_new_one(
    fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider
) -> None:
    await send(provider, account)
    fcm.revoke_access_tokens()
    outcome = await send(provider, account)
    assert isinstance(outcome, Retry) and outcome.status == 401
    assert await send(provider, account) == Delivered(200)
    assert fcm.tokens_issued == 2


async def test_token_endpoint_failure_is_retried_and_not_hammered(
    fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider, clock: FakeClock
) -> None:
    fcm.answer_token_endpoint(503, "temporarily_unavailable", retry_after=10)
    outcome = await send(provider, account)
    assert isinstance(outcome, Retry) and outcome.status == 503 and outcome.after == 10
    # Within the hold, sends fail fast without asking the endpoint again.
    outcome = await send(provider, account)
    assert isinstance(outcome, Retry) and outcome.after == pytest.approx(10)
    assert len(fcm.token_requests) == 1
    clock.advance(10)
    assert await send(provider, account) == Delivered(200)
    assert [r.status for r in fcm.token_requests] == [503, 200]


async def test_refused_grant_is_retried(fcm: FcmEmulator, provider: FcmProvider) -> None:
    stranger = emu.make_service_account("tidings-test", token_uri=fcm.token_url)  # never registered
    outcome = await send(provider, stranger)
    assert isinstance(outcome, Retry) and outcome.status == 400 and "invalid_grant" in outcome.reason
    assert not fcm.received


async def test_unreachable_token_endpoint_is_retried(fcm: FcmEmulator, account: TestServiceAccount) -> None:
    provider = FcmProvider(fcm.url, "http://127.0.0.1:9/token", None)
    try:
        outcome = await send(provider, account)
    finally:
        await provider.close()
    assert isinstance(outcome, Retry) and "unreachable" in outcome.reason


# ------------------------------------------------------------------------------------------ answers
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (emu.unregistered(), DeadToken("UNREGISTERED", 404)),
        (emu.sender_id_mismatch(), DeadToken("SENDER_ID_MISMATCH", 403)),
        (emu.quota_exceeded(retry_after=30), Retry("QUOTA_EXCEEDED: Quota exceeded for sending messages", 30, 429)),
        (emu.internal(), Retry("INTERNAL: Internal error encountered.", None, 500)),
        (emu.unavailable(retry_after=5), Retry("UNAVAILABLE: The service is currently unavailable.", 5, 503)),
        (emu.invalid_argument("Message is too big"), Failed("INVALID_ARGUMENT: Message is too big", 400)),
    ],
)
async def test_each_answer_has_its_outcome(
    fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider, answer: emu.Answer, expected: Outcome
) -> None:
    fcm.answer(answer, times=1)
    assert await send(provider, account) == expected
    assert await send(provider, account) == Delivered(200)  # next-N answers are used up


async def test_invalid_registration_token_is_a_dead_token(
    fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider
) -> None:
    fcm.answer(emu.invalid_token(), token="stale")
    outcome = await send(provider, account, "stale")
    assert isinstance(outcome, DeadToken) and outcome.status == 400
    assert await send(provider, account, "fresh") == Delivered(200)  # per-token answers touch no other device
    assert isinstance(await send(provider, account, "stale"), DeadToken)


async def test_empty_device_token_is_refused_by_fcm_as_a_token_problem(
    fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider
) -> None:
    instance = make_instance({"service_account": account.info})
    device = make_device().model_copy(update={"token": ""})
    assert isinstance(await provider.send(instance, device, make_publish()), DeadToken)


async def test_unreachable_fcm_is_retried(account: TestServiceAccount, fcm: FcmEmulator, clock: FakeClock) -> None:
    provider = FcmProvider("http://127.0.0.1:9", fcm.token_url, None, clock=clock)
    try:
        outcome = await send(provider, account)
    finally:
        await provider.close()
    assert isinstance(outcome, Retry) and outcome.reason.startswith("FCM unreachable")


# ------------------------------------------------------------------------------------------ skipped / failed
async def test_skipped_without_fcm_payload_or_credentials(account: TestServiceAccount, provider: FcmProvider) -> None:
    web_only = make_publish({"web": {"notification": {"title": "t"}}})
    instance = make_instance({"service_account": account.info})
    assert isinstance(await provider.send(instance, make_device(), web_only), Skipped)
    assert isinstance(await provider.send(make_instance(), make_device(), make_publish()), Skipped)


async def test_broken_settings_fail_without_showing_the_key(
    fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider
) -> None:
    instance = make_instance({"service_account": {**account.info, "client_email": ""}})
    outcome = await provider.send(instance, make_device(), make_publish())
    assert isinstance(outcome, Failed) and "client_email" in outcome.reason
    assert account.private_key_pem.splitlines()[1] not in outcome.reason


async def test_unusable_private_key_fails(fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider) -> None:
    fake_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    instance = make_instance({"service_account": {**account.info, "private_key": fake_pem}})
    outcome = await provider.send(instance, make_device(), make_publish())
    assert outcome == Failed("service_account.private_key is not a usable RSA private key")
    assert not fcm.token_requests


async def test_secrets_never_logged(
    fcm: FcmEmulator, account: TestServiceAccount, provider: FcmProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await send(provider, account)
    fcm.revoke_access_tokens()
    await send(provider, account)
    fcm.answer_token_endpoint(500, "internal_failure")
    await send(provider, account)
    access_tokens = {m.access_token for m in fcm.received if m.access_token}
    assert access_tokens
    for secret in (*access_tokens, account.private_key_pem.splitlines()[1]):
        assert secret not in caplog.text


# ------------------------------------------------------------------------------------------ TLS, sync use
async def test_gateway_ca_file_is_trusted_in_addition_to_public_cas(tmp_path: Path, clock: FakeClock) -> None:
    files = tls.make_tls_files(tmp_path)
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ssl.load_cert_chain(files.cert, files.key)
    async with FcmEmulator(ssl_context=server_ssl, clock=clock) as fcm:
        account = fcm.new_service_account()
        trusting = FcmProvider(fcm.url, fcm.token_url, files.ca, clock=clock)
        default = FcmProvider(fcm.url, fcm.token_url, None, clock=clock)
        try:
            assert await send(trusting, account) == Delivered(200)
            outcome = await send(default, account)  # the emulator's CA is not a public one
            assert isinstance(outcome, Retry) and "unreachable" in outcome.reason
        finally:
            await trusting.close()
            await default.close()


def test_emulator_from_a_sync_test() -> None:
    with FcmEmulator() as fcm:
        account = fcm.new_service_account()

        async def run() -> Outcome:
            provider = FcmProvider(fcm.url, fcm.token_url, None)
            try:
                return await send(provider, account, "sync-token")
            finally:
                await provider.close()

        assert asyncio.run(run()) == Delivered(200)
        [got] = fcm.wait_for(1)
        assert got.token == "sync-token"

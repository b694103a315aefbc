"""The emulator refuses what APNs refuses, so provider tests passing against it mean something."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from tests.support.emulators.apns import ApnsEmulator, SigningKey

from .conftest import BUNDLE_ID, FakeClock

GOOD_HEADERS = {"apns-topic": BUNDLE_ID, "apns-push-type": "alert"}
BODY = b'{"aps":{"alert":"hi"}}'


def provider_jwt(key: SigningKey, iat: int, **header: Any) -> str:
    return jwt.encode(
        {"iss": key.team_id, "iat": iat}, key.private_key_pem, algorithm="ES256", headers={"kid": key.key_id, **header}
    )


@pytest.fixture
async def http(apns: ApnsEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(http2=True, verify=ssl.create_default_context(cafile=str(apns.ca_file))) as client:
        yield client


async def post(
    http: httpx.AsyncClient,
    apns: ApnsEmulator,
    token: str,
    *,
    auth: str | None,
    headers: dict[str, str] | None = None,
    body: bytes = BODY,
    sandbox: bool = False,
) -> tuple[int, str | None]:
    sent = dict(GOOD_HEADERS if headers is None else headers)
    if auth is not None:
        sent["authorization"] = f"bearer {auth}"
    base = apns.sandbox_url if sandbox else apns.url
    response = await http.post(f"{base}/3/device/{token}", headers=sent, content=body)
    reason = response.json()["reason"] if response.content else None
    assert "apns-id" in response.headers
    return response.status_code, reason


async def test_a_good_request_is_accepted_and_recorded(
    http: httpx.AsyncClient, apns: ApnsEmulator, key: SigningKey, token: str, clock: FakeClock
) -> None:
    assert await post(http, apns, token, auth=provider_jwt(key, int(clock.now))) == (200, None)
    (received,) = apns.delivered(token)
    assert received.body == {"aps": {"alert": "hi"}}
    assert received.headers["apns-topic"] == BUNDLE_ID


async def test_http_1_1_is_refused(apns: ApnsEmulator, key: SigningKey, token: str, clock: FakeClock) -> None:
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(apns.ca_file))) as http1:
        assert await post(http1, apns, token, auth=provider_jwt(key, int(clock.now))) == (505, "HTTP2Required")
    assert apns.delivered() == []


@pytest.mark.parametrize(
    ("make_auth", "answer"),
    [
        (lambda key, now: None, (403, "MissingProviderToken")),
        (lambda key, now: "not.a.jwt", (403, "InvalidProviderToken")),
        (lambda key, now: provider_jwt(key, now - 3601), (403, "ExpiredProviderToken")),
        (lambda key, now: provider_jwt(key, now + 60), (403, "InvalidProviderToken")),
        (lambda key, now: provider_jwt(key, now, kid="OTHERKEY00"), (403, "InvalidProviderToken")),
        (
            lambda key, now: provider_jwt(SigningKey("OTHERTEAM0", key.key_id, key.private_key_pem), now),
            (403, "InvalidProviderToken"),
        ),
        (
            lambda key, now: jwt.encode({"iss": key.team_id, "iat": now}, "s" * 32, headers={"kid": key.key_id}),
            (403, "InvalidProviderToken"),
        ),
    ],
    ids=["missing", "garbage", "over-an-hour-old", "from-the-future", "unknown-kid", "unknown-team", "hs256"],
)
async def test_provider_token_checks(
    http: httpx.AsyncClient,
    apns: ApnsEmulator,
    key: SigningKey,
    token: str,
    clock: FakeClock,
    make_auth: Any,
    answer: Any,
) -> None:
    assert await post(http, apns, token, auth=make_auth(key, int(clock.now))) == answer


async def test_a_token_signed_by_another_key_is_refused(
    http: httpx.AsyncClient, apns: ApnsEmulator, key: SigningKey, token: str, clock: FakeClock
) -> None:
    impostor = ApnsEmulator().add_key(key.team_id, key.key_id)  # same ids, different private key
    assert await post(http, apns, token, auth=provider_jwt(impostor, int(clock.now))) == (403, "InvalidProviderToken")


async def test_renewing_the_token_too_often_is_throttled(
    http: httpx.AsyncClient, apns: ApnsEmulator, key: SigningKey, token: str, clock: FakeClock
) -> None:
    now = int(clock.now)
    assert await post(http, apns, token, auth=provider_jwt(key, now - 600)) == (200, None)
    assert await post(http, apns, token, auth=provider_jwt(key, now - 600)) == (200, None)  # same iat: same token
    assert await post(http, apns, token, auth=provider_jwt(key, now)) == (429, "TooManyProviderTokenUpdates")


async def test_the_renewal_rule_can_be_turned_off(
    http: httpx.AsyncClient, apns: ApnsEmulator, key: SigningKey, token: str, clock: FakeClock
) -> None:
    apns.throttle_token_updates = False
    now = int(clock.now)
    assert await post(http, apns, token, auth=provider_jwt(key, now - 600)) == (200, None)
    assert await post(http, apns, token, auth=provider_jwt(key, now)) == (200, None)


@pytest.mark.parametrize(
    ("headers", "answer"),
    [
        ({"apns-push-type": "alert"}, (400, "MissingTopic")),
        ({"apns-topic": BUNDLE_ID}, (400, "InvalidPushType")),
        ({**GOOD_HEADERS, "apns-push-type": "loud"}, (400, "InvalidPushType")),
        ({**GOOD_HEADERS, "apns-priority": "7"}, (400, "BadPriority")),
        ({**GOOD_HEADERS, "apns-expiration": "tomorrow"}, (400, "BadExpirationDate")),
        ({**GOOD_HEADERS, "apns-collapse-id": "x" * 65}, (400, "BadCollapseId")),
        ({**GOOD_HEADERS, "apns-id": "not-a-uuid"}, (400, "BadMessageId")),
    ],
)
async def test_header_checks(
    http: httpx.AsyncClient,
    apns: ApnsEmulator,
    key: SigningKey,
    token: str,
    clock: FakeClock,
    headers: dict[str, str],
    answer: tuple[int, str],
) -> None:
    assert await post(http, apns, token, auth=provider_jwt(key, int(clock.now)), headers=headers) == answer


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        (b"", (400, "PayloadEmpty")),
        (b"[1]", (400, "BadPayload")),
        (b'{"aps":{"alert":"' + b"x" * 4100 + b'"}}', (413, "PayloadTooLarge")),
    ],
)
async def test_body_checks(
    http: httpx.AsyncClient, apns: ApnsEmulator, key: SigningKey, token: str, clock: FakeClock, body: bytes, answer: Any
) -> None:
    assert await post(http, apns, token, auth=provider_jwt(key, int(clock.now)), body=body) == answer


async def test_device_token_checks(
    http: httpx.AsyncClient, apns: ApnsEmulator, key: SigningKey, token: str, clock: FakeClock
) -> None:
    auth = provider_jwt(key, int(clock.now))
    assert await post(http, apns, "ab" * 32, auth=auth) == (400, "BadDeviceToken")  # never registered
    assert await post(http, apns, token, auth=auth, sandbox=True) == (400, "BadDeviceToken")  # other environment
    other_topic = apns.register_device(topic="com.example.other")
    assert await post(http, apns, other_topic, auth=auth) == (400, "DeviceTokenNotForTopic")
    any_topic = apns.register_device()
    assert await post(http, apns, any_topic.upper(), auth=auth) == (200, None)


async def test_unregistered_answers_carry_a_timestamp(
    http: httpx.AsyncClient, apns: ApnsEmulator, key: SigningKey, token: str, clock: FakeClock
) -> None:
    apns.unregister(token)
    response = await http.post(
        f"{apns.url}/3/device/{token}",
        headers={**GOOD_HEADERS, "authorization": f"bearer {provider_jwt(key, int(clock.now))}"},
        content=BODY,
    )
    assert response.status_code == 410
    assert response.json() == {"reason": "Unregistered", "timestamp": int(clock.now * 1000)}


async def test_path_and_method(http: httpx.AsyncClient, apns: ApnsEmulator) -> None:
    assert (await http.get(f"{apns.url}/3/device/{'ab' * 32}")).json() == {"reason": "MethodNotAllowed"}
    assert (await http.post(f"{apns.url}/2/device/{'ab' * 32}")).json() == {"reason": "BadPath"}


def test_usable_from_sync_code_and_waits_for_requests(clock: FakeClock) -> None:
    with ApnsEmulator(clock=clock) as apns:
        key = apns.add_key()
        token = apns.register_device(topic=BUNDLE_ID)
        with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=str(apns.ca_file))) as http:
            response = http.post(
                f"{apns.url}/3/device/{token}",
                headers={**GOOD_HEADERS, "authorization": f"bearer {provider_jwt(key, int(clock.now))}"},
                content=BODY,
            )
        assert response.status_code == 200
        assert [r.token for r in apns.wait_for(1, timeout=30)] == [token]
        with pytest.raises(AssertionError, match="expected 2"):
            apns.wait_for(2, timeout=0.1)

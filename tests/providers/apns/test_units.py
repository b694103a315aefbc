"""The pure parts: request headers and body, the provider JWT and its cache, answer classification."""

from __future__ import annotations

from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tidings.providers.apns import parse_settings
from tidings.providers.apns.errors import classify, reason_of
from tidings.providers.apns.request import build_request, push_type
from tidings.providers.apns.token import REFRESH_AFTER, ProviderTokens
from tidings.providers.base import DeadToken, Delivered, Failed, Outcome, Retry
from tidings.providers.retry import retry_after as parse_retry_after

from .conftest import FakeClock

TOKEN = "ab" * 32


def _headers(apns: dict[str, Any]) -> dict[str, str]:
    return build_request("inst", "pubid-1", apns, TOKEN, "com.example.app").headers


# -- request ---------------------------------------------------------------------------------------------


def test_request_path_body_and_default_headers() -> None:
    request = build_request("inst", "pubid-1", {"aps": {"alert": "hi"}, "data": {"k": "v"}}, TOKEN.upper(), "t")
    assert request.path == f"/3/device/{TOKEN}"
    assert orjson.loads(request.body) == {
        "aps": {"alert": "hi"},
        "data": {"k": "v", "pusher": {"instanceId": "inst", "publishId": "pubid-1"}},
    }
    assert request.headers == {
        "apns-topic": "t",
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": "0",
        "content-type": "application/json",
    }


def test_beams_options_become_headers_not_body() -> None:
    apns = {"aps": {"alert": "hi"}, "collapse_id": "score", "expiration": 1_900_000_000, "priority": 5}
    request = build_request("inst", "pubid-1", apns, TOKEN, "t")
    assert request.headers["apns-collapse-id"] == "score"
    assert request.headers["apns-expiration"] == "1900000000"
    assert request.headers["apns-priority"] == "5"
    assert set(orjson.loads(request.body)) == {"aps", "data"}


@pytest.mark.parametrize(
    ("aps", "expected"),
    [
        ({"alert": "hi"}, "alert"),
        ({"alert": {"title": "t"}}, "alert"),
        ({"badge": 0}, "alert"),  # clearing the badge is user-visible too
        ({"sound": "default"}, "alert"),
        ({"content-available": 1}, "background"),
        ({}, "background"),
        (None, "background"),
    ],
)
def test_push_type(aps: Any, expected: str) -> None:
    apns = {} if aps is None else {"aps": aps}
    assert push_type(apns) == expected
    assert _headers(apns)["apns-priority"] == ("10" if expected == "alert" else "5")


@pytest.mark.parametrize("priority", [0, 7, "10", True, None])
def test_unusable_priority_falls_back_to_the_default(priority: Any) -> None:
    assert _headers({"aps": {"alert": "x"}, "priority": priority})["apns-priority"] == "10"


@pytest.mark.parametrize(("expiration", "header"), [(-1, "0"), ("soon", "0"), ("1900000000", "1900000000"), (0, "0")])
def test_expiration(expiration: Any, header: str) -> None:
    assert _headers({"expiration": expiration})["apns-expiration"] == header


def test_no_collapse_id_header_unless_given() -> None:
    assert "apns-collapse-id" not in _headers({"collapse_id": ""})
    assert "apns-collapse-id" not in _headers({"collapse_id": 12})


# -- provider JWT ----------------------------------------------------------------------------------------


def _settings(key: ec.EllipticCurvePrivateKey | None = None, key_id: str = "ABC123DEFG") -> Any:
    key = key or ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return parse_settings({"key_id": key_id, "team_id": "DEF123GHIJ", "private_key": pem.decode()})


async def test_jwt_header_and_claims_are_apples() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    clock = FakeClock()
    token = await ProviderTokens(clock).get(_settings(key))
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "ABC123DEFG"}
    claims = jwt.decode(token, key.public_key(), algorithms=["ES256"])
    assert claims == {"iss": "DEF123GHIJ", "iat": int(clock.now)}


async def test_jwt_is_reused_then_renewed_after_the_interval() -> None:
    clock = FakeClock()
    tokens = ProviderTokens(clock)
    settings = _settings()
    first = await tokens.get(settings)
    clock.advance(REFRESH_AFTER - 1)
    assert await tokens.get(settings) == first
    clock.advance(1)
    second = await tokens.get(settings)
    assert second != first
    assert jwt.decode(second, options={"verify_signature": False})["iat"] == int(clock.now)
    assert 20 * 60 <= REFRESH_AFTER < 60 * 60  # Apple's window: not more often than 20 min, not older than 60


async def test_one_jwt_per_signing_key() -> None:
    tokens = ProviderTokens(FakeClock())
    a, b = _settings(key_id="AAAAAAAAAA"), _settings(key_id="BBBBBBBBBB")
    assert await tokens.get(a) != await tokens.get(b)
    assert await tokens.get(a) == await tokens.get(a)
    # The same key id with a replaced .p8 signs afresh at once.
    replaced = _settings(key_id="AAAAAAAAAA")
    assert await tokens.get(replaced) != await tokens.get(a)


async def test_invalidate_drops_only_the_rejected_token() -> None:
    tokens = ProviderTokens(FakeClock())
    settings = _settings()
    old = await tokens.get(settings)
    tokens.invalidate(settings, old)
    new = await tokens.get(settings)
    assert new != old  # ES256 signatures are randomised: a fresh one differs even within the same second
    tokens.invalidate(settings, old)  # a late answer for the old token must not discard the new one
    assert await tokens.get(settings) == new


# -- answers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason", "outcome"),
    [
        (200, None, Delivered(200)),
        (410, "Unregistered", DeadToken("Unregistered", 410)),
        (410, "ExpiredToken", DeadToken("ExpiredToken", 410)),
        (400, "BadDeviceToken", DeadToken("BadDeviceToken", 400)),
        (400, "DeviceTokenNotForTopic", DeadToken("DeviceTokenNotForTopic", 400)),
        (403, "ExpiredProviderToken", Retry("ExpiredProviderToken", None, 403)),
        (403, "InvalidProviderToken", Failed("InvalidProviderToken", 403)),
        (403, "TopicDisallowed", Failed("TopicDisallowed", 403)),
        (429, "TooManyRequests", Retry("TooManyRequests", 7.0, 429)),
        (429, "TooManyProviderTokenUpdates", Retry("TooManyProviderTokenUpdates", 7.0, 429)),
        (500, "InternalServerError", Retry("InternalServerError", 7.0, 500)),
        (503, "ServiceUnavailable", Retry("ServiceUnavailable", 7.0, 503)),
        (503, "Shutdown", Retry("Shutdown", 7.0, 503)),
        (502, None, Retry("HTTP 502", 7.0, 502)),
        (400, "BadCollapseId", Failed("BadCollapseId", 400)),
        (400, "PayloadEmpty", Failed("PayloadEmpty", 400)),
        (404, "BadPath", Failed("BadPath", 404)),
        (405, "MethodNotAllowed", Failed("MethodNotAllowed", 405)),
        (413, "PayloadTooLarge", Failed("PayloadTooLarge", 413)),
    ],
)
def test_classify(status: int, reason: str | None, outcome: Outcome) -> None:
    assert classify(status, reason, 7.0) == outcome


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"reason":"BadDeviceToken"}', "BadDeviceToken"),
        (b'{"reason":"Unregistered","timestamp":1700000000000}', "Unregistered"),
        (b"", None),
        (b"<html>bad gateway</html>", None),
        (b'["reason"]', None),
        (b'{"reason": 3}', None),
    ],
)
def test_reason_of(body: bytes, reason: str | None) -> None:
    assert reason_of(body) == reason


def test_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:15:20 GMT", now) == 120.0  # 1_700_000_120
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now) == 0.0  # already past
    assert parse_retry_after("later", now) is None

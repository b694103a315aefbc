"""The pure parts: header rules, the VAPID audience, Retry-After parsing, answer reasons."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest

from tests.providers.webpush.conftest import make_instance
from tidings.providers.base import DeadToken, Failed
from tidings.providers.retry import retry_after
from tidings.providers.webpush.errors import classify
from tidings.providers.webpush.settings import PushHeaders, push_headers, vapid_subject
from tidings.providers.webpush.vapid import audience

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("web", "expected"),
    [
        ({}, PushHeaders(2419200, "normal", None)),
        ({"time_to_live": 0, "urgency": "very-low", "topic": "a-b_C9"}, PushHeaders(0, "very-low", "a-b_C9")),
        ({"time_to_live": True, "urgency": "urgent", "topic": "x" * 33}, PushHeaders(2419200, "normal", None)),
        ({"time_to_live": 2419201, "topic": "not valid"}, PushHeaders(2419200, "normal", None)),
    ],
)
def test_push_headers(web: dict[str, object], expected: PushHeaders) -> None:
    assert push_headers(web) == expected


@pytest.mark.parametrize(
    ("endpoint", "origin"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc:def", "https://fcm.googleapis.com"),
        ("https://Web.Push.Apple.com:443/QO?x=1", "https://web.push.apple.com"),
        ("http://127.0.0.1:8080/push/1", "http://127.0.0.1:8080"),
        ("https://user:pw@[::1]:8443/p", "https://[::1]:8443"),
    ],
)
def test_audience_is_the_endpoint_origin(endpoint: str, origin: str) -> None:
    assert audience(endpoint) == origin


def test_vapid_subject() -> None:
    assert vapid_subject(make_instance()) == "mailto:admin@localhost"
    assert vapid_subject(make_instance(web={"vapid_subject": "https://example.com"})) == "https://example.com"
    assert vapid_subject(make_instance(web={"vapid_subject": "ops@example.com"})) == "mailto:admin@localhost"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        (" 5 ", 5.0),
        ("9999999", 86400.0),
        (formatdate(NOW + 90, usegmt=True), 90.0),
        (formatdate(NOW - 90, usegmt=True), 0.0),
        ("soon", None),
        ("-3", None),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    assert retry_after(value, NOW) == expected


def test_reasons_from_push_service_bodies() -> None:
    apple = httpx.Response(403, json={"reason": "BadJwtToken"})
    mozilla = httpx.Response(410, json={"code": 410, "errno": 106, "message": "Request did not validate"})
    fcm = httpx.Response(400, text="invalid\n  JWT  provided")
    assert classify(apple, NOW) == Failed("BadJwtToken", 403)
    assert classify(mozilla, NOW) == DeadToken("Request did not validate", 410)
    assert classify(fcm, NOW) == Failed("invalid JWT provided", 400)
    assert classify(httpx.Response(301), NOW) == Failed("push service answered 301", 301)
    assert len(classify(httpx.Response(400, text="x" * 5000), NOW).reason) == 200  # type: ignore[union-attr]

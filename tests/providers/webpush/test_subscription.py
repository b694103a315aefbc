"""The Web Push device token rule (providers/webpush/subscription.py): a browser PushSubscription."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.errors import InvalidDeviceToken
from tidings.providers.webpush.subscription import check, decode

from .tokens import AUTH, ENDPOINT, P256DH, b64url, subscription, web_token


def test_decodes_what_the_web_sdk_sends() -> None:
    sub = decode(web_token(subscription()))
    assert (sub.endpoint, sub.p256dh, sub.auth) == (ENDPOINT, P256DH, AUTH)


def test_url_safe_and_unpadded_forms_are_accepted_too() -> None:
    token = web_token(subscription()).rstrip("=").replace("+", "-").replace("/", "_")
    assert decode(token).auth == AUTH


def test_check_keeps_the_token_as_sent() -> None:
    token = web_token(subscription())
    assert check(token) == token


def test_http_endpoint_for_a_local_push_service_unless_https_only() -> None:
    token = web_token(subscription(endpoint="http://127.0.0.1:9/p"))
    assert decode(token).endpoint == "http://127.0.0.1:9/p"
    with pytest.raises(InvalidDeviceToken, match="https"):
        check(token, https_only=True)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64!",
        "é",
        base64.b64encode(b"not json").decode(),
        web_token([1, 2]),
        web_token(subscription(endpoint="ftp://x/y")),
        web_token(subscription(endpoint=None)),
        web_token(subscription(endpoint="https://")),
        web_token(subscription(keys=None)),
        web_token(subscription(keys={"auth": b64url(AUTH)})),
        web_token(subscription(keys={"p256dh": b64url(P256DH)})),
        web_token(subscription(keys={"p256dh": b64url(P256DH[:64]), "auth": b64url(AUTH)})),
        web_token(subscription(keys={"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": b64url(AUTH)})),
        web_token(subscription(keys={"p256dh": b64url(P256DH), "auth": b64url(AUTH[:15])})),
        web_token(subscription(keys={"p256dh": b64url(P256DH), "auth": "***"})),
        web_token(subscription(keys={"p256dh": 1, "auth": b64url(AUTH)})),
    ],
)
def test_refused(token: str) -> None:
    with pytest.raises(InvalidDeviceToken) as info:
        check(token)
    assert str(info.value)


@given(st.text(max_size=300))
def test_any_text_only_raises_invalid_device_token(token: str) -> None:
    try:
        check(token)
    except InvalidDeviceToken:
        pass

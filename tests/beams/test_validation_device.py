"""Device, interest-listing and reporting bodies (reference sections 4 and 6)."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from tidings.beams.models import Platform
from tidings.beams.validation import (
    MAX_INTERESTS_PER_DEVICE,
    MAX_METADATA_SIZE,
    MAX_TOKEN_LENGTH,
    Registration,
    ReportingEvent,
    decode_web_subscription,
    encode_cursor,
    parse_fcm_token,
    parse_interest_set,
    parse_list_limit,
    parse_metadata,
    parse_registration,
    parse_reporting_event,
)
from tidings.errors import BeamsError

from .helpers import refused


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def browser_key() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


P256DH = browser_key()
AUTH = os.urandom(16)
ENDPOINT = "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bH"


def subscription(**overrides: Any) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "endpoint": ENDPOINT,
        "expirationTime": None,
        "keys": {"p256dh": b64url(P256DH), "auth": b64url(AUTH)},
    }
    sub.update(overrides)
    return sub


def web_token(sub: Any) -> str:
    """What the web SDK sends: btoa(JSON.stringify(subscription))."""
    return base64.b64encode(json.dumps(sub).encode()).decode()


def body(value: Any) -> bytes:
    return orjson.dumps(value)


class TestWebSubscription:
    def test_decodes_what_the_web_sdk_sends(self) -> None:
        sub = decode_web_subscription(web_token(subscription()))
        assert (sub.endpoint, sub.p256dh, sub.auth) == (ENDPOINT, P256DH, AUTH)

    def test_url_safe_and_unpadded_forms_are_accepted_too(self) -> None:
        token = web_token(subscription()).rstrip("=").replace("+", "-").replace("/", "_")
        assert decode_web_subscription(token).auth == AUTH

    def test_http_endpoint_for_a_local_push_service(self) -> None:
        assert decode_web_subscription(web_token(subscription(endpoint="http://127.0.0.1:9/p"))).endpoint

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
    def test_refused(self, token: str) -> None:
        refused(400, "InvalidToken", decode_web_subscription, token)


class TestRegistration:
    def test_web(self) -> None:
        token = web_token(subscription())
        result = parse_registration(Platform.WEB, body({"token": token, "metadata": {"sdkVersion": "2.1.0"}}))
        assert result == Registration(token, {"sdkVersion": "2.1.0"}, None, ())

    @pytest.mark.parametrize("endpoint", ["http://push.example/p", "HTTP://127.0.0.1:9/p"])
    def test_web_endpoints_must_be_https_unless_private_networks_are_allowed(self, endpoint: str) -> None:
        request = body({"token": web_token(subscription(endpoint=endpoint))})
        error = refused(400, "InvalidToken", parse_registration, Platform.WEB, request)
        assert "https" in error.description
        assert parse_registration(Platform.WEB, request, https_only=False).token

    def test_apns(self) -> None:
        request = {"token": "AB" * 32, "bundleIdentifier": "com.example.app", "metadata": {"iosVersion": "17.0"}}
        result = parse_registration(Platform.APNS, body(request))
        assert result == Registration("ab" * 32, {"iosVersion": "17.0"}, "com.example.app", ())

    def test_apns_without_bundle_identifier(self) -> None:
        assert parse_registration(Platform.APNS, body({"token": "00ff"})).bundle_identifier is None

    def test_fcm(self) -> None:
        request = {"token": "fcm:tok", "knownPreviousClientIds": ["fcm-1", "fcm-2", "fcm-1"], "metadata": None}
        result = parse_registration(Platform.FCM, body(request))
        assert result == Registration("fcm:tok", {}, None, ("fcm-1", "fcm-2"))

    def test_unknown_fields_ignored(self) -> None:
        assert parse_registration(Platform.FCM, body({"token": "t", "extra": 1})).token == "t"

    @pytest.mark.parametrize("platform", list(Platform))
    @pytest.mark.parametrize("token", [None, "", 7, ["t"], "x" * (MAX_TOKEN_LENGTH + 1)])
    def test_bad_token(self, platform: Platform, token: Any) -> None:
        refused(400, "InvalidToken", parse_registration, platform, body({"token": token}))

    @pytest.mark.parametrize("token", ["abc", "zz", "00 ff", "0x00"])
    def test_apns_token_must_be_hex_bytes(self, token: str) -> None:
        refused(400, "InvalidToken", parse_registration, Platform.APNS, body({"token": token}))

    def test_web_token_must_be_a_subscription(self) -> None:
        refused(400, "InvalidToken", parse_registration, Platform.WEB, body({"token": "ff00"}))

    @pytest.mark.parametrize("request_body", [b"", b"[]", b"{", b"x" * 20000])
    def test_bad_body(self, request_body: bytes) -> None:
        refused(400, "Bad request", parse_registration, Platform.FCM, request_body)

    @pytest.mark.parametrize("metadata", [[], "x", 1, {"pad": "x" * MAX_METADATA_SIZE}])
    def test_bad_metadata(self, metadata: Any) -> None:
        refused(400, "Bad request", parse_registration, Platform.FCM, body({"token": "t", "metadata": metadata}))

    @pytest.mark.parametrize("ids", ["fcm-1", [1], [""], ["x" * 165], {}])
    def test_bad_previous_client_ids(self, ids: Any) -> None:
        request = body({"token": "t", "knownPreviousClientIds": ids})
        refused(400, "Bad request", parse_registration, Platform.FCM, request)

    @pytest.mark.parametrize("bundle", ["", 1, "x" * 256])
    def test_bad_bundle_identifier(self, bundle: Any) -> None:
        request = body({"token": "00", "bundleIdentifier": bundle})
        refused(400, "Bad request", parse_registration, Platform.APNS, request)


class TestSmallBodies:
    def test_metadata(self) -> None:
        assert parse_metadata(b'{"sdkVersion": "1.9.2", "androidVersion": "14"}') == {
            "sdkVersion": "1.9.2",
            "androidVersion": "14",
        }
        assert parse_metadata(b"{}") == {}

    @pytest.mark.parametrize("request_body", [b"", b"null", b"[]", b'"x"', body({"k": "v" * MAX_METADATA_SIZE})])
    def test_metadata_refused(self, request_body: bytes) -> None:
        refused(400, "Bad request", parse_metadata, request_body)

    def test_fcm_token(self) -> None:
        assert parse_fcm_token(b'{"token": "new-token"}') == "new-token"

    @pytest.mark.parametrize("request_body", [b"{}", b'{"token": ""}', b'{"token": 1}'])
    def test_fcm_token_refused(self, request_body: bytes) -> None:
        refused(400, "InvalidToken", parse_fcm_token, request_body)

    def test_fcm_token_bad_json(self) -> None:
        refused(400, "Bad request", parse_fcm_token, b"token")


class TestInterestSet:
    def test_dedup_in_order(self) -> None:
        assert parse_interest_set(b'{"interests": ["b", "a", "b"]}') == ["b", "a"]

    def test_empty_clears(self) -> None:
        assert parse_interest_set(b'{"interests": []}') == []

    def test_limit_counts_distinct_names(self) -> None:
        names = [f"i{n}" for n in range(MAX_INTERESTS_PER_DEVICE)]
        assert len(parse_interest_set(body({"interests": names + names[:10]}))) == MAX_INTERESTS_PER_DEVICE
        refused(400, "Interest set too large", parse_interest_set, body({"interests": [*names, "one-more"]}))

    @pytest.mark.parametrize("names", [["ok", "bad name"], [""], ["a" * 165], [1], [None]])
    def test_invalid_name(self, names: list[Any]) -> None:
        refused(400, "Invalid interest name", parse_interest_set, body({"interests": names}))

    @pytest.mark.parametrize("request_body", [b"", b"[]", b"{}", b'{"interests": "a"}', b'{"interests": null}'])
    def test_bad_body(self, request_body: bytes) -> None:
        refused(400, "Bad request", parse_interest_set, request_body)


class TestListLimit:
    @pytest.mark.parametrize(
        ("limit", "cursor", "expected"),
        [
            (None, None, (100, 0)),
            ("1", None, (1, 0)),
            ("100", "0", (100, 0)),
            ("25", "50", (25, 50)),
            ("7", "", (7, 0)),
        ],
    )
    def test_accepted(self, limit: str | None, cursor: str | None, expected: tuple[int, int]) -> None:
        assert parse_list_limit(limit, cursor) == expected

    @pytest.mark.parametrize("limit", ["0", "101", "-1", "", "abc", "1.5", " 5", "+5", "\u0665", "9" * 20])
    def test_bad_limit(self, limit: str) -> None:
        refused(400, "Bad request", parse_list_limit, limit, None)

    @pytest.mark.parametrize("cursor", ["-1", "abc", "1e3", "\u0665", "9" * 20, " 1"])
    def test_bad_cursor(self, cursor: str) -> None:
        refused(400, "Bad request", parse_list_limit, None, cursor)

    @given(st.integers(0, 10**9 - 1))
    def test_issued_cursors_read_back(self, offset: int) -> None:
        assert parse_list_limit(None, encode_cursor(offset)) == (100, offset)


WEB_EVENT = {
    "event": "delivery",
    "publishId": "pubid-1",
    "deviceId": "web-1",
    "userId": None,
    "timestampSecs": 1700000000,
}


class TestReportingEvent:
    def test_web_shape(self) -> None:
        assert parse_reporting_event(body(WEB_EVENT)) == ReportingEvent("delivery", "pubid-1", "web-1", 1700000000)

    @pytest.mark.parametrize(("sent", "kind"), [("Delivery", "delivery"), ("Open", "open"), ("OPEN", "open")])
    def test_mobile_shape_any_case(self, sent: str, kind: str) -> None:
        request = {
            "event": sent,
            "instanceId": "inst",
            "publishId": "pubid-2",
            "deviceId": "apns-1",
            "userId": "alice",
            "timestampSecs": 1,
            "appInBackground": True,
            "hasDisplayableContent": False,
            "hasData": True,
        }
        assert parse_reporting_event(body(request)) == ReportingEvent(
            kind,
            "pubid-2",
            "apns-1",
            1,
            "alice",
            True,
            False,
            True,
            "inst",  # type: ignore[arg-type]
        )

    def test_extra_holds_the_optional_fields_sent(self) -> None:
        assert parse_reporting_event(body(WEB_EVENT)).extra == {}
        request = {**WEB_EVENT, "hasData": False, "instanceId": "inst", "appInBackground": None}
        assert parse_reporting_event(body(request)).extra == {"hasData": False, "instanceId": "inst"}

    @pytest.mark.parametrize("field", ["event", "publishId", "deviceId", "timestampSecs"])
    def test_required(self, field: str) -> None:
        request = {key: value for key, value in WEB_EVENT.items() if key != field}
        assert field in refused(400, "Bad request", parse_reporting_event, body(request)).description

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("event", "click"),
            ("event", 1),
            ("publishId", ""),
            ("deviceId", 5),
            ("timestampSecs", "1700000000"),
            ("timestampSecs", 1.5),
            ("timestampSecs", -1),
            ("timestampSecs", True),
            ("userId", 5),
            ("userId", "u" * 165),
            ("appInBackground", "true"),
            ("hasData", 1),
            ("instanceId", {}),
        ],
    )
    def test_wrong_type(self, field: str, value: Any) -> None:
        assert (
            field in refused(400, "Bad request", parse_reporting_event, body({**WEB_EVENT, field: value})).description
        )

    @pytest.mark.parametrize("request_body", [b"", b"[]", b"{"])
    def test_bad_json(self, request_body: bytes) -> None:
        refused(400, "Bad request", parse_reporting_event, request_body)

    @given(st.binary(max_size=200))
    def test_arbitrary_bytes_only_raise_beams_errors(self, request_body: bytes) -> None:
        try:
            parse_reporting_event(request_body)
        except BeamsError as error:
            assert error.status == 400


@given(st.text(max_size=300))
def test_any_web_token_text_only_raises_invalid_token(token: str) -> None:
    try:
        decode_web_subscription(token)
    except BeamsError as error:
        assert (error.status, error.title) == (400, "InvalidToken")


@given(st.binary(max_size=300), st.sampled_from(list(Platform)))
def test_any_device_body_only_raises_400(request_body: bytes, platform: Platform) -> None:
    for parse in (lambda raw: parse_registration(platform, raw), parse_metadata, parse_fcm_token, parse_interest_set):
        try:
            parse(request_body)
        except BeamsError as error:
            assert error.status == 400

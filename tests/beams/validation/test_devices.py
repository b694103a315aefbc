"""The device API's bodies (docs/protocol/beams.md §4): registration, metadata, a new FCM token.

The token rules themselves are the providers' (tests/providers/*/test_device_token.py, test_subscription.py);
here, that registration applies them and answers their refusal with 400 InvalidToken.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.beams.helpers import refused
from tests.providers.webpush.tokens import subscription, web_token
from tidings.beams.models import Platform
from tidings.beams.validation import (
    MAX_METADATA_SIZE,
    MAX_TOKEN_LENGTH,
    Registration,
    parse_interest_set,
    parse_metadata,
    parse_registration,
    parse_token,
)
from tidings.errors import BeamsError
from tidings.providers import device_tokens

APNS_TOKEN = "ab" * 32


def body(value: Any) -> bytes:
    return orjson.dumps(value)


def register(platform: Platform, request_body: bytes, *, https_only: bool = True) -> Registration:
    """What the device API does: the platform's own token rule, https required unless private networks are on."""
    return parse_registration(platform, request_body, device_tokens.rule(platform, https_only=https_only))


def new_fcm_token(request_body: bytes) -> str:
    return parse_token(request_body, device_tokens.rule(Platform.FCM))


class TestRegistration:
    def test_web(self) -> None:
        token = web_token(subscription())
        result = register(Platform.WEB, body({"token": token, "metadata": {"sdkVersion": "2.1.0"}}))
        assert result == Registration(token, {"sdkVersion": "2.1.0"}, None, ())

    @pytest.mark.parametrize("endpoint", ["http://push.example/p", "HTTP://127.0.0.1:9/p"])
    def test_web_endpoints_must_be_https_unless_private_networks_are_allowed(self, endpoint: str) -> None:
        request = body({"token": web_token(subscription(endpoint=endpoint))})
        error = refused(400, "InvalidToken", register, Platform.WEB, request)
        assert "https" in error.description
        assert register(Platform.WEB, request, https_only=False).token

    def test_apns(self) -> None:
        request = {"token": "AB" * 32, "bundleIdentifier": "com.example.app", "metadata": {"iosVersion": "17.0"}}
        result = register(Platform.APNS, body(request))
        assert result == Registration("ab" * 32, {"iosVersion": "17.0"}, "com.example.app", ())

    def test_apns_without_bundle_identifier(self) -> None:
        assert register(Platform.APNS, body({"token": APNS_TOKEN})).bundle_identifier is None

    def test_fcm(self) -> None:
        request = {"token": "fcm:tok", "knownPreviousClientIds": ["fcm-1", "fcm-2", "fcm-1"], "metadata": None}
        result = register(Platform.FCM, body(request))
        assert result == Registration("fcm:tok", {}, None, ("fcm-1", "fcm-2"))

    def test_unknown_fields_ignored(self) -> None:
        assert register(Platform.FCM, body({"token": "t", "extra": 1})).token == "t"

    @pytest.mark.parametrize("platform", list(Platform))
    @pytest.mark.parametrize("token", [None, "", 7, ["t"], "x" * (MAX_TOKEN_LENGTH + 1)])
    def test_bad_token(self, platform: Platform, token: Any) -> None:
        refused(400, "InvalidToken", register, platform, body({"token": token}))

    def test_the_token_is_checked_after_the_metadata(self) -> None:
        # The order the checks ran in before the token rules moved to the providers.
        request = body({"token": "zz", "metadata": []})
        refused(400, "Bad request", register, Platform.APNS, request)

    @pytest.mark.parametrize("token", ["abc", "zz", "00 ff", "0x00"])
    def test_apns_token_must_be_hex_bytes(self, token: str) -> None:
        error = refused(400, "InvalidToken", register, Platform.APNS, body({"token": token}))
        assert error.description == "APNs device tokens are hex strings"

    @pytest.mark.parametrize("token", ["00", "00ff", "ab" * 7, "ab" * 257])
    def test_apns_token_of_a_length_apns_refuses(self, token: str) -> None:
        # Once stored, then recorded as dead at the first send: now refused where the SDK can hear it.
        error = refused(400, "InvalidToken", register, Platform.APNS, body({"token": token}))
        assert error.description == "APNs device tokens are 8 to 256 bytes (16 to 512 hex digits)"

    def test_web_token_must_be_a_subscription(self) -> None:
        refused(400, "InvalidToken", register, Platform.WEB, body({"token": "ff00"}))

    @pytest.mark.parametrize("request_body", [b"", b"[]", b"{", b"x" * 20000])
    def test_bad_body(self, request_body: bytes) -> None:
        refused(400, "Bad request", register, Platform.FCM, request_body)

    @pytest.mark.parametrize("metadata", [[], "x", 1, {"pad": "x" * MAX_METADATA_SIZE}])
    def test_bad_metadata(self, metadata: Any) -> None:
        refused(400, "Bad request", register, Platform.FCM, body({"token": "t", "metadata": metadata}))

    @pytest.mark.parametrize("ids", ["fcm-1", [1], [""], ["x" * 165], {}])
    def test_bad_previous_client_ids(self, ids: Any) -> None:
        request = body({"token": "t", "knownPreviousClientIds": ids})
        refused(400, "Bad request", register, Platform.FCM, request)

    @pytest.mark.parametrize("bundle", ["", 1, "x" * 256])
    def test_bad_bundle_identifier(self, bundle: Any) -> None:
        request = body({"token": APNS_TOKEN, "bundleIdentifier": bundle})
        refused(400, "Bad request", register, Platform.APNS, request)


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
        assert new_fcm_token(b'{"token": "new-token"}') == "new-token"

    @pytest.mark.parametrize("request_body", [b"{}", b'{"token": ""}', b'{"token": 1}'])
    def test_fcm_token_refused(self, request_body: bytes) -> None:
        refused(400, "InvalidToken", new_fcm_token, request_body)

    def test_fcm_token_bad_json(self) -> None:
        refused(400, "Bad request", new_fcm_token, b"token")


@given(st.binary(max_size=300), st.sampled_from(list(Platform)))
def test_any_device_body_only_raises_400(request_body: bytes, platform: Platform) -> None:
    for parse in (lambda raw: register(platform, raw), parse_metadata, new_fcm_token, parse_interest_set):
        try:
            parse(request_body)
        except BeamsError as error:
            assert error.status == 400

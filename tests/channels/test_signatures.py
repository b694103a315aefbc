from __future__ import annotations

import base64
import json

import pusher
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.channels.signatures import (
    channel_string,
    hmac_hex,
    shared_secret,
    signin_string,
    token,
    verify_token,
)

# The worked examples of Pusher's auth-signatures docs.
KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
SOCKET = "1234.1234"


def sdk() -> pusher.Pusher:
    master = base64.b64encode(bytes(range(32))).decode()
    return pusher.Pusher(app_id="3", key=KEY, secret=SECRET, encryption_master_key_base64=master)


def flip(text: str, index: int = -1) -> str:
    """`text` with one character changed."""
    i = index % len(text)
    return text[:i] + ("0" if text[i] != "0" else "1") + text[i + 1 :]


class TestDocumentedVectors:
    def test_private_channel(self) -> None:
        message = channel_string(SOCKET, "private-foobar")
        assert message == "1234.1234:private-foobar"
        sig = hmac_hex(SECRET, message)
        assert sig.startswith("58df8b0c") and sig.endswith("51c3a4")
        assert token(KEY, SECRET, message) == f"{KEY}:{sig}"

    def test_user_signin(self) -> None:
        message = signin_string(SOCKET, '{"id":"12345"}')
        assert message == '1234.1234::user::{"id":"12345"}'
        sig = hmac_hex(SECRET, message)
        assert sig.startswith("4708d583") and sig.endswith("336ba")

    def test_presence_string_includes_channel_data_verbatim(self) -> None:
        data = '{"user_id": 10, "user_info": {"name": "Mr. Channels"}}'
        assert channel_string(SOCKET, "presence-foobar", data) == f"1234.1234:presence-foobar:{data}"

    def test_hex_is_lowercase_sha256(self) -> None:
        sig = hmac_hex(SECRET, "x")
        assert len(sig) == 64 and sig == sig.lower()


class TestVerifyToken:
    message = channel_string(SOCKET, "private-foobar")

    def test_accepts_the_token(self) -> None:
        assert verify_token(KEY, SECRET, self.message, token(KEY, SECRET, self.message))

    @pytest.mark.parametrize(
        "received",
        [
            "",
            ":",
            "278d425bdf160c739803",
            "278d425bdf160c739803:",
            # Right signature, wrong key: the whole "key:sig" is compared.
            "other:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4",
            "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4",
            "278d425bdf160c739803:58DF8B0C36D6982B82C3ECF6B4662E34FE8C25BBA48F5369F135BF843651C3A4",
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4 ",
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3é4",
            "278d425bdf160c739803:\ud800",
        ],
    )
    def test_refuses_other_strings(self, received: str) -> None:
        assert not verify_token(KEY, SECRET, self.message, received)

    @pytest.mark.parametrize("received", [None, 42, b"278d425bdf160c739803:58df", ["a"], {"auth": "x"}])
    def test_refuses_non_strings(self, received: object) -> None:
        assert not verify_token(KEY, SECRET, self.message, received)

    def test_message_with_lone_surrogate_does_not_raise(self) -> None:
        message = channel_string(SOCKET, "presence-x", '{"user_id":"\ud800"}')
        assert verify_token(KEY, SECRET, message, token(KEY, SECRET, message))

    @given(key=st.text(min_size=1), secret=st.text(), message=st.text(), index=st.integers())
    def test_any_single_character_change_is_refused(self, key: str, secret: str, message: str, index: int) -> None:
        good = token(key, secret, message)
        assert verify_token(key, secret, message, good)
        assert not verify_token(key, secret, message, flip(good, index))
        assert not verify_token(key, secret, message, good[:-1])
        assert not verify_token(key, secret, message, good + "0")


class TestOfficialPythonSdk:
    """What pusher-http-python's authenticate/authenticate_user produce must verify here."""

    def test_private_channel(self) -> None:
        auth = sdk().authenticate(channel="private-foobar", socket_id=SOCKET)["auth"]
        assert verify_token(KEY, SECRET, channel_string(SOCKET, "private-foobar"), auth)
        assert not verify_token(KEY, SECRET, channel_string(SOCKET, "private-foobar"), flip(auth))
        assert not verify_token(KEY, SECRET, channel_string("1234.1235", "private-foobar"), auth)

    def test_presence_channel(self) -> None:
        response = sdk().authenticate(
            channel="presence-room", socket_id=SOCKET, custom_data={"user_id": 7, "user_info": {"n": "é"}}
        )
        message = channel_string(SOCKET, "presence-room", response["channel_data"])
        assert verify_token(KEY, SECRET, message, response["auth"])
        assert not verify_token(KEY, SECRET, message, flip(response["auth"], 30))
        # Re-serialising the JSON (different spacing) must not match: sign what was received.
        respaced = json.dumps(json.loads(response["channel_data"]), separators=(",", ":"))
        assert respaced != response["channel_data"]
        assert not verify_token(KEY, SECRET, channel_string(SOCKET, "presence-room", respaced), response["auth"])

    def test_user_signin(self) -> None:
        response = sdk().authenticate_user(SOCKET, {"id": "12345", "user_info": {"name": "A"}})
        message = signin_string(SOCKET, response["user_data"])
        assert verify_token(KEY, SECRET, message, response["auth"])
        assert not verify_token(KEY, SECRET, message, flip(response["auth"]))
        assert not verify_token(KEY, SECRET, signin_string("1.1", response["user_data"]), response["auth"])

    def test_encrypted_channel_token_and_shared_secret(self) -> None:
        channel = "private-encrypted-foo"
        response = sdk().authenticate(channel=channel, socket_id=SOCKET)
        assert verify_token(KEY, SECRET, channel_string(SOCKET, channel), response["auth"])
        expected = response["shared_secret"]
        expected = expected.decode() if isinstance(expected, bytes) else expected
        assert shared_secret(channel, bytes(range(32))) == expected
        assert shared_secret("private-encrypted-bar", bytes(range(32))) != expected

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.channels.names import (
    USER_CHANNEL_PREFIX,
    ChannelKind,
    ChannelType,
    channel_type,
    check_channel_name,
    check_event_name,
    check_socket_id,
    user_id_of_channel,
)

ALLOWED = "-abcxyzABCXYZ0189_=@,.;"
# Characters a careless check lets through: non-ASCII digits/letters, whitespace, newline, '#', '%', ':'.
DISALLOWED = " \n\t#%:/?+!~*'\"\\\u0661\u00e9\u212a\x00"


class TestChannelType:
    @pytest.mark.parametrize(
        ("name", "kind", "cache"),
        [
            ("my-channel", ChannelKind.PUBLIC, False),
            ("cache-news", ChannelKind.PUBLIC, True),
            ("private-foo", ChannelKind.PRIVATE, False),
            ("private-cache-foo", ChannelKind.PRIVATE, True),
            ("private-encrypted-foo", ChannelKind.ENCRYPTED, False),
            ("private-encrypted-cache-foo", ChannelKind.ENCRYPTED, True),
            ("presence-room", ChannelKind.PRESENCE, False),
            ("presence-cache-room", ChannelKind.PRESENCE, True),
            ("#server-to-user-42", ChannelKind.USER, False),
            # Near misses: the prefix must match whole, dash included.
            ("private", ChannelKind.PUBLIC, False),
            ("presence", ChannelKind.PUBLIC, False),
            ("cache", ChannelKind.PUBLIC, False),
            ("private-encryptedfoo", ChannelKind.PRIVATE, False),
            ("private-encrypted", ChannelKind.PRIVATE, False),
            ("private-cachefoo", ChannelKind.PRIVATE, False),
            ("public-cache-foo", ChannelKind.PUBLIC, False),
            ("Private-foo", ChannelKind.PUBLIC, False),
        ],
    )
    def test_kind_from_prefix(self, name: str, kind: ChannelKind, cache: bool) -> None:
        assert channel_type(name) == ChannelType(kind, cache)

    @pytest.mark.parametrize(
        ("kind", "requires_auth", "is_presence", "client_events"),
        [
            (ChannelKind.PUBLIC, False, False, False),
            (ChannelKind.PRIVATE, True, False, True),
            (ChannelKind.PRESENCE, True, True, True),
            (ChannelKind.ENCRYPTED, True, False, False),
            (ChannelKind.USER, False, False, False),
        ],
    )
    def test_properties(self, kind: ChannelKind, requires_auth: bool, is_presence: bool, client_events: bool) -> None:
        for cache in (False, True):
            ctype = ChannelType(kind, cache)
            assert ctype.requires_auth is requires_auth
            assert ctype.is_presence is is_presence
            assert ctype.allows_client_events is client_events

    def test_cached_answers_are_shared_and_long_names_still_work(self) -> None:
        assert channel_type("private-a") is channel_type("private-a")
        assert channel_type("presence-" + "x" * 10_000).kind is ChannelKind.PRESENCE

    def test_kind_is_a_str_enum(self) -> None:
        assert isinstance(ChannelKind.ENCRYPTED, str)
        assert f"{ChannelKind.ENCRYPTED}" == "encrypted"


class TestCheckChannelName:
    @pytest.mark.parametrize(
        "name",
        ["a", "private-foo", "presence-room-1", "-_=@,.;", "A" * 200, "#server-to-user-1", "#server-to-user-a@b.c"],
    )
    def test_valid(self, name: str) -> None:
        assert check_channel_name(name) is None

    @pytest.mark.parametrize(
        ("name", "fragment"),
        [
            (None, "must be a string"),
            (42, "must be a string"),
            (["a"], "must be a string"),
            ("", "must not be empty"),
            ("a" * 201, "too long"),
            ("foo bar", "only the characters"),
            ("foo\n", "only the characters"),
            ("\u0661", "only the characters"),
            ("caf\u00e9", "only the characters"),
            ("a:b", "only the characters"),
            ("#foo", "reserved"),
            ("#", "reserved"),
            ("#server-to-user", "reserved"),
            ("#server-to-user-", "user id"),
            ("#server-to-user-a b", "user id"),
            ("#server-to-user-#1", "user id"),
            ("#server-to-user-" + "1" * 185, "too long"),
        ],
    )
    def test_invalid(self, name: object, fragment: str) -> None:
        message = check_channel_name(name)
        assert message is not None
        assert fragment in message

    def test_message_names_the_channel_but_stays_short(self) -> None:
        assert "'foo bar'" in (check_channel_name("foo bar") or "")
        assert len(check_channel_name("x y" * 10_000) or "") < 200

    def test_limit_is_configurable(self) -> None:
        assert check_channel_name("a" * 164, max_length=164) is None
        assert check_channel_name("a" * 165, max_length=164) is not None

    @given(
        name=st.one_of(
            st.text(alphabet=ALLOWED + DISALLOWED, max_size=40),
            st.text(alphabet=ALLOWED + DISALLOWED, max_size=20).map(lambda s: USER_CHANNEL_PREFIX + s),
            st.text(alphabet=ALLOWED, min_size=1, max_size=40),
        ),
        max_length=st.integers(min_value=1, max_value=60),
    )
    def test_accepts_exactly_the_language(self, name: str, max_length: int) -> None:
        body = name[len(USER_CHANNEL_PREFIX) :] if name.startswith(USER_CHANNEL_PREFIX) else name
        in_language = len(body) >= 1 and all(c in "-_=@,.;" or (c.isascii() and c.isalnum()) for c in body)
        expected_valid = in_language and len(name) <= max_length
        assert (check_channel_name(name, max_length) is None) is expected_valid

    @given(st.from_regex(re.compile(r"[-a-zA-Z0-9_=@,.;]{1,200}"), fullmatch=True))
    def test_regex_language_is_accepted_at_default_limit(self, name: str) -> None:
        assert check_channel_name(name) is None


class TestCheckEventName:
    def test_valid(self) -> None:
        assert check_event_name("my-event") is None
        assert check_event_name("client-anything goes: even spaces/é") is None
        assert check_event_name("e" * 200) is None

    @pytest.mark.parametrize(
        ("name", "fragment"),
        [(None, "must be a string"), (1, "must be a string"), ("", "empty"), ("e" * 201, "too long")],
    )
    def test_invalid(self, name: object, fragment: str) -> None:
        assert fragment in (check_event_name(name) or "")

    def test_lone_surrogate_is_refused(self) -> None:
        # stdlib json.loads('"\\ud800"') produces one; it could never be sent on to a client.
        assert check_event_name("a\ud800") is not None

    def test_limit_is_configurable(self) -> None:
        assert check_event_name("e" * 10, max_length=10) is None
        assert check_event_name("e" * 11, max_length=10) is not None


def test_user_id_of_channel() -> None:
    assert user_id_of_channel("#server-to-user-42") == "42"
    assert user_id_of_channel("#server-to-user-a-b") == "a-b"
    assert user_id_of_channel("#server-to-user-") is None
    assert user_id_of_channel("private-42") is None
    assert user_id_of_channel("server-to-user-42") is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1234.1234", True),
        ("0.0", True),
        ("123456789012.987654321", True),
        ("1234", False),
        ("1234.", False),
        (".1234", False),
        ("1.2.3", False),
        ("1.2\n", False),
        (" 1.2", False),
        ("\u0661.\u0662", False),  # Arabic-Indic digits match \d but are not a socket id
        ("a.b", False),
        ("", False),
        (1.2, False),
        (None, False),
        (b"1.2", False),
    ],
)
def test_check_socket_id(value: object, ok: bool) -> None:
    assert check_socket_id(value) is ok

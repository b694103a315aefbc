from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import parse_qsl

import pusher
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.channels.httpauth import auth_key_of, sign_params, string_to_sign, verify_request
from tidings.channels.signatures import hmac_hex
from tidings.errors import Unauthorized

KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
NOW = 1_353_088_179
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def verify(
    params: dict[str, str] | list[tuple[str, str]],
    *,
    method: str = "POST",
    path: str = "/apps/3/events",
    body: bytes = b"",
    now: float = NOW,
    key: str = KEY,
) -> None:
    items = list(params.items()) if isinstance(params, dict) else params
    verify_request(method=method, path=path, params=items, body=body, key=key, secret=SECRET, now=now)


def signed(
    params: dict[str, str] | None = None, *, method: str = "POST", path: str = "/apps/3/events", body: bytes = b""
) -> dict[str, str]:
    return sign_params(KEY, SECRET, method, path, params or {}, body, timestamp=NOW)


def refused(match: str, params: dict[str, str] | list[tuple[str, str]], **kwargs: Any) -> None:
    with pytest.raises(Unauthorized, match=match):
        verify(params, **kwargs)


class TestStringToSign:
    def test_documented_vector(self) -> None:
        params = [
            ("auth_key", KEY),
            ("auth_timestamp", "1353088179"),
            ("auth_version", "1.0"),
            ("body_md5", "ec365a775a4cd0599faeb73354201b6f"),
        ]
        text = string_to_sign("POST", "/apps/3/events", params)
        assert text == (
            "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179"
            "&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
        )
        assert hmac_hex(SECRET, text) == "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"

    def test_keys_lowercased_sorted_signature_dropped_values_raw(self) -> None:
        params = [("Zeta", "1"), ("info", "user_count,subscription_count"), ("auth_signature", "x"), ("a", "b c&d%20")]
        assert string_to_sign("get", "/p", params) == "GET\n/p\na=b c&d%20&info=user_count,subscription_count&zeta=1"

    def test_signature_dropped_whatever_its_case(self) -> None:
        assert string_to_sign("GET", "/p", [("Auth_Signature", "x")]) == "GET\n/p\n"


class TestSignParams:
    def test_adds_auth_parameters(self) -> None:
        params = sign_params(KEY, SECRET, "GET", "/apps/3/channels", {"info": "user_count"}, timestamp=NOW)
        assert params["info"] == "user_count"
        assert params["auth_key"] == KEY
        assert params["auth_timestamp"] == str(NOW)
        assert params["auth_version"] == "1.0"
        assert "body_md5" not in params
        expected = hmac_hex(SECRET, string_to_sign("GET", "/apps/3/channels", params.items()))
        assert params["auth_signature"] == expected

    def test_body_md5_only_with_a_body(self) -> None:
        assert signed(body=b'{"a":1}')["body_md5"] == hashlib.md5(b'{"a":1}').hexdigest()

    def test_default_timestamp_is_now(self) -> None:
        params = sign_params(KEY, SECRET, "GET", "/p", {})
        assert abs(int(params["auth_timestamp"]) - time.time()) < 5

    def test_does_not_mutate_its_argument(self) -> None:
        original = {"a": "1"}
        signed(original)
        assert original == {"a": "1"}


class TestVerifyRequest:
    body = b'{"name":"e","channel":"c","data":"d"}'

    def test_accepts_a_signed_request(self) -> None:
        verify(signed(body=self.body), body=self.body)
        verify(
            signed({"info": "user_count"}, method="GET", path="/apps/3/channels"), method="GET", path="/apps/3/channels"
        )

    def test_accepts_documented_vector(self) -> None:
        params = {
            "auth_key": KEY,
            "auth_timestamp": "1353088179",
            "auth_version": "1.0",
            "body_md5": "ec365a775a4cd0599faeb73354201b6f",
            "auth_signature": "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
        }
        # The docs do not give the body; body_md5 is checked separately, so only the signature is tested here.
        with pytest.raises(Unauthorized, match="body_md5 does not match"):
            verify(params, body=b"x")
        params["body_md5"] = hashlib.md5(b"x").hexdigest()
        refused("Invalid signature", params, body=b"x")

    @pytest.mark.parametrize("name", ["auth_key", "auth_timestamp", "auth_version", "auth_signature"])
    def test_missing_auth_parameter(self, name: str) -> None:
        params = signed()
        del params[name]
        refused(f"Missing authentication parameter.*{name}", params)

    def test_nothing_at_all(self) -> None:
        refused("auth_key, auth_timestamp, auth_version, auth_signature", [])

    def test_wrong_key(self) -> None:
        refused("Unknown auth_key", signed(), key="another-key")

    @pytest.mark.parametrize("version", ["2.0", "1", "", "1.0 "])
    def test_wrong_version(self, version: str) -> None:
        refused("auth_version", signed() | {"auth_version": version})

    @pytest.mark.parametrize(
        "ts", ["", "abc", "1353088179.0", "-1", " 1353088179", "1_353_088_179", "\u0661", "9" * 40]
    )
    def test_timestamp_not_an_integer(self, ts: str) -> None:
        refused("auth_timestamp must be whole seconds", signed() | {"auth_timestamp": ts})

    @pytest.mark.parametrize("offset", [-599, -600, 0, 599, 600])
    def test_timestamp_within_window(self, offset: int) -> None:
        verify(signed(), now=NOW + offset)

    @pytest.mark.parametrize("offset", [-601, 601, 10**9])
    def test_timestamp_outside_window(self, offset: int) -> None:
        refused(
            r"Timestamp expired: Given timestamp \(2012-11-16T17:49:39Z\) not within 600s of server time",
            signed(),
            now=NOW + offset,
        )

    def test_skew_is_configurable(self) -> None:
        with pytest.raises(Unauthorized, match="not within 30s"):
            verify_request(
                method="POST", path="/apps/3/events", params=list(signed().items()), body=b"",
                key=KEY, secret=SECRET, now=NOW + 31, max_skew=30,
            )  # fmt: skip

    def test_far_future_timestamp_message_does_not_break(self) -> None:
        params = sign_params(KEY, SECRET, "POST", "/apps/3/events", {}, timestamp=10**14)
        refused("Timestamp expired", params)

    def test_body_md5_mismatch(self) -> None:
        refused("body_md5 does not match", signed(body=self.body), body=self.body + b" ")

    def test_body_without_body_md5(self) -> None:
        refused("body_md5 is required", signed(), body=self.body)

    def test_get_with_md5_of_empty_body_is_accepted(self) -> None:
        # pusher-http-python sends body_md5 on every request, GET included.
        params = signed({"body_md5": EMPTY_MD5}, method="GET", path="/apps/3/channels")
        verify(params, method="GET", path="/apps/3/channels")

    def test_get_with_wrong_body_md5_is_refused(self) -> None:
        params = signed({"body_md5": hashlib.md5(b"x").hexdigest()}, method="GET", path="/apps/3/channels")
        refused("body_md5 does not match", params, method="GET", path="/apps/3/channels")

    def test_uppercase_body_md5_is_accepted(self) -> None:
        md5 = hashlib.md5(self.body).hexdigest().upper()
        verify(signed({"body_md5": md5}, body=self.body), body=self.body)

    def test_flipped_signature(self) -> None:
        params = signed()
        sig = params["auth_signature"]
        refused("Invalid signature", params | {"auth_signature": sig[:-1] + ("0" if sig[-1] != "0" else "1")})

    def test_signature_message_shows_the_string_to_sign_not_the_expected_signature(self) -> None:
        params = signed() | {"auth_signature": "nope"}
        with pytest.raises(Unauthorized) as info:
            verify(params)
        assert "POST\\n/apps/3/events\\nauth_key=" in info.value.message
        assert signed()["auth_signature"] not in info.value.message
        assert info.value.status == 401

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [("GET", "/apps/3/events", b""), ("POST", "/apps/4/events", b""), ("POST", "/apps/3/events/", b"")],
    )
    def test_signature_covers_method_and_path(self, method: str, path: str, body: bytes) -> None:
        refused("Invalid signature", signed(), method=method, path=path, body=body)

    def test_signature_covers_parameters(self) -> None:
        refused("Invalid signature", signed({"info": "user_count"}) | {"info": "subscription_count"})
        refused("Invalid signature", signed() | {"extra": "1"})

    def test_path_signed_before_percent_encoding(self) -> None:
        params = signed(method="GET", path="/apps/3/channels/presence-a@b,c")
        verify(params, method="GET", path="/apps/3/channels/presence-a%40b%2Cc")

    def test_path_signed_as_received(self) -> None:
        params = signed(method="GET", path="/apps/3/channels/presence-a%40b")
        verify(params, method="GET", path="/apps/3/channels/presence-a%40b")

    @pytest.mark.parametrize(
        "extra",
        [
            [("info", "a"), ("info", "b")],
            [("info", "a"), ("INFO", "a")],
            [("auth_key", KEY)],
            [("Auth_Signature", "x")],
        ],
    )
    def test_duplicate_parameters(self, extra: list[tuple[str, str]]) -> None:
        refused("Duplicate query parameter", list(signed().items()) + extra)


def test_auth_key_of() -> None:
    assert auth_key_of([("a", "b"), ("auth_key", "k")]) == "k"
    assert auth_key_of([("a", "b")]) is None
    assert auth_key_of([]) is None


# --- the official Python SDK ------------------------------------------------------------------


class CapturingBackend:
    """A pusher-http-python backend that records requests instead of sending them."""

    requests: list[Any] = []

    def __init__(self, client: Any, **options: Any) -> None:
        pass

    def send_request(self, request: Any) -> dict[str, Any]:
        CapturingBackend.requests.append(request)
        return {}


@pytest.fixture
def client() -> Any:
    CapturingBackend.requests.clear()
    return pusher.Pusher(app_id="3", key=KEY, secret=SECRET, backend=CapturingBackend)


def as_received(request: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    """What the server sees of a request the SDK would send: raw path, decoded query, body."""
    path, _, query = request.signed_path.partition("?")
    return path, parse_qsl(query, keep_blank_values=True, strict_parsing=True), request.body


SDK_CALLS = {
    "trigger": lambda c: c.trigger(["a", "b"], "my-event", {"message": "héllo"}, socket_id="1.2"),
    "trigger_batch": lambda c: c.trigger_batch([{"channel": "a", "name": "e", "data": "d"}]),
    "send_to_user": lambda c: c.send_to_user("user-1", "e", "d"),
    "channels_info": lambda c: c.channels_info("presence-", ["user_count"]),
    "channel_info": lambda c: c.channel_info("presence-a", ["user_count", "subscription_count"]),
    "users_info": lambda c: c.users_info("presence-a"),
    "terminate_user_connections": lambda c: c.terminate_user_connections("user-1"),
}


@pytest.mark.parametrize("call", SDK_CALLS.values(), ids=SDK_CALLS.keys())
def test_official_sdk_requests_verify(client: Any, call: Any) -> None:
    call(client)
    (request,) = CapturingBackend.requests
    path, params, body = as_received(request)
    assert ("body_md5", hashlib.md5(body).hexdigest()) in params  # sent even on GET
    now = time.time()
    verify_request(method=request.method, path=path, params=params, body=body, key=KEY, secret=SECRET, now=now)

    def rejects(**changes: Any) -> None:
        args: dict[str, Any] = dict(method=request.method, path=path, params=params, body=body, now=now)
        with pytest.raises(Unauthorized):
            verify_request(**(args | changes), key=KEY, secret=SECRET)

    sig_at = [k for k, _ in params].index("auth_signature")
    sig = params[sig_at][1]
    bad_sig = params[:sig_at] + [("auth_signature", ("0" if sig[0] != "0" else "1") + sig[1:])] + params[sig_at + 1 :]
    rejects(params=bad_sig)
    rejects(body=body + b" ")
    rejects(path=path + "x")
    rejects(now=now + 601)
    for i, (k, v) in enumerate(params):
        if k != "auth_signature":
            rejects(params=params[:i] + [(k, v + "x")] + params[i + 1 :])


def test_official_sdk_get_params_are_not_url_escaped(client: Any) -> None:
    client.channel_info("presence-a", ["user_count", "subscription_count"])
    (request,) = CapturingBackend.requests
    assert "info=user_count,subscription_count" in request.signed_path


# --- properties -------------------------------------------------------------------------------

RESERVED = {"auth_key", "auth_timestamp", "auth_version", "auth_signature", "body_md5"}
param_keys = st.text(min_size=1, max_size=12).filter(lambda k: k.lower() not in RESERVED)
param_dicts = st.dictionaries(param_keys, st.text(max_size=20), max_size=5).filter(
    lambda d: len({k.lower() for k in d}) == len(d)
)
paths = st.text(min_size=1, max_size=40).map(lambda p: "/" + p)
methods = st.sampled_from(["GET", "POST", "DELETE"])


@given(
    params=param_dicts,
    body=st.binary(max_size=64),
    method=methods,
    path=paths,
    timestamp=st.integers(min_value=0, max_value=2**40),
    skew=st.integers(min_value=-600, max_value=600),
)
def test_sign_then_verify_round_trips(
    params: dict[str, str], body: bytes, method: str, path: str, timestamp: int, skew: int
) -> None:
    signed_params = sign_params(KEY, SECRET, method, path, params, body, timestamp=timestamp)
    verify_request(
        method=method, path=path, params=list(signed_params.items()), body=body,
        key=KEY, secret=SECRET, now=timestamp + skew,
    )  # fmt: skip


@given(
    params=param_dicts,
    body=st.binary(max_size=64),
    method=methods,
    path=paths,
    data=st.data(),
)
def test_any_single_mutation_is_refused(
    params: dict[str, str], body: bytes, method: str, path: str, data: st.DataObject
) -> None:
    signed_params = sign_params(KEY, SECRET, method, path, params, body, timestamp=NOW)
    items = list(signed_params.items())
    args: dict[str, Any] = dict(method=method, path=path, params=items, body=body)
    mutation = data.draw(st.sampled_from(["value", "drop", "add", "body", "path", "method"]))
    if mutation == "value":
        i = data.draw(st.integers(min_value=0, max_value=len(items) - 1))
        k, v = items[i]
        new = data.draw(st.text(max_size=20).filter(lambda s: s != v))
        args["params"] = items[:i] + [(k, new)] + items[i + 1 :]
    elif mutation == "drop":
        i = data.draw(st.integers(min_value=0, max_value=len(items) - 1))
        args["params"] = items[:i] + items[i + 1 :]
    elif mutation == "add":
        k = data.draw(param_keys.filter(lambda k: k.lower() not in {key.lower() for key in signed_params}))
        args["params"] = [*items, (k, data.draw(st.text(max_size=5)))]
    elif mutation == "body":
        args["body"] = data.draw(st.binary(max_size=64).filter(lambda b: b != body))
    elif mutation == "path":
        args["path"] = path + data.draw(st.text(min_size=1, max_size=5))
    else:
        args["method"] = data.draw(methods.filter(lambda m: m != method))
    with pytest.raises(Unauthorized):
        verify_request(**args, key=KEY, secret=SECRET, now=NOW)

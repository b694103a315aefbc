"""Beams Tokens (docs/protocol/beams.md §3): what PUT .../user accepts, and the status of every refusal."""

from __future__ import annotations

import time
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st
from pusher_push_notifications import PushNotifications

from tidings.beams.tokens import issue, issuer, verify
from tidings.errors import BeamsError

from .helpers import refused

INSTANCE = "1b880590-6301-4bb5-b34f-45db1c5f5644"
SECRET = "F8AC0B756E50DF235F642D6F0DC2CDE0328CD9184B3874C5E91AB2189BB722FE"
NOW = 1_700_000_000.0
ISS = f"https://{INSTANCE}.pushnotifications.pusher.com"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def make(claims: Any, *, key: Any = SECRET, algorithm: str = "HS256") -> str:
    """A token over arbitrary claims (any JSON, not only objects)."""
    return jwt.PyJWS().encode(orjson.dumps(claims), key, algorithm=algorithm)


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sub": "alice", "exp": NOW + 3600, "iss": ISS}
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not ...}


def check(token: str, *, now: float = NOW) -> str:
    return verify(token, instance_id=INSTANCE, secret_key=SECRET, now=now)


class TestAccepted:
    def test_official_python_sdk_token_verifies(self) -> None:
        token = PushNotifications(INSTANCE, SECRET).generate_token("user-42")["token"]
        assert check(token, now=time.time()) == "user-42"

    def test_issue_round_trips_with_sdk_shaped_claims(self) -> None:
        token = issue(INSTANCE, SECRET, "bob", now=NOW)
        assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
        payload = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
        assert payload == {"sub": "bob", "exp": int(NOW) + 86400, "iss": ISS}
        assert check(token) == "bob"

    def test_issuer_format(self) -> None:
        assert issuer("abc") == "https://abc.pushnotifications.pusher.com"

    def test_issuer_without_scheme_accepted_like_the_swift_sdk_writes_it(self) -> None:
        assert check(make(claims(iss=f"{INSTANCE}.pushnotifications.pusher.com"))) == "alice"

    def test_lifetime_is_not_capped(self) -> None:
        # The web e2e token expires in 2119; the python SDK's exp is off by the UTC offset.
        assert check(make(claims(exp=4707992302))) == "alice"

    def test_extra_claims_and_float_exp_are_fine(self) -> None:
        assert check(make(claims(iat=int(NOW), exp=NOW + 0.5))) == "alice"

    @pytest.mark.parametrize("sub", ["x", "a" * 164, "\U0001f600" * 164, "user with spaces/and:é"])
    def test_sub_is_counted_in_code_points(self, sub: str) -> None:
        assert check(make(claims(sub=sub))) == sub

    def test_uses_the_injected_clock_only(self) -> None:
        token = make(claims(exp=100))
        assert check(token, now=99.5) == "alice"
        refused(401, "Unauthorized", check, token, now=100)


class TestSignatureFirst:
    def test_forged_signature(self) -> None:
        refused(401, "Unauthorized", check, make(claims(), key="another secret, same length ................"))

    def test_other_instances_secret(self) -> None:
        other = issue(INSTANCE, SECRET.lower(), "alice", now=NOW)
        refused(401, "Unauthorized", check, other)

    def test_claim_errors_are_hidden_behind_a_bad_signature(self) -> None:
        forged = make({"iss": "x"}, key="not the secret key, but long enough to sign")
        refused(401, "Unauthorized", check, forged)

    def test_alg_none_refused(self) -> None:
        token = jwt.encode(claims(), None, algorithm="none")
        refused(401, "Unauthorized", check, token)
        # Also with the signature segment of a real token glued on.
        real_signature = issue(INSTANCE, SECRET, "alice", now=NOW).rsplit(".", 1)[1]
        refused(401, "Unauthorized", check, token + real_signature)

    @pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
    def test_other_hmac_algorithms_refused(self, algorithm: str) -> None:
        refused(401, "Unauthorized", check, make(claims(), algorithm=algorithm))

    @pytest.mark.parametrize("algorithm", ["RS256", "PS256"])
    def test_rsa_refused(self, algorithm: str) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        refused(401, "Unauthorized", check, make(claims(), key=key, algorithm=algorithm))

    @pytest.mark.parametrize(
        "token",
        ["", "abc", "a.b", "a.b.c", "...", "Bearer x.y.z", "é.é.é", "eyJhbGciOiJIUzI1NiJ9..", "\x00"],
    )
    def test_malformed(self, token: str) -> None:
        refused(401, "Unauthorized", check, token)

    @pytest.mark.parametrize("payload", [[], "alice", 1, None])
    def test_payload_must_be_an_object(self, payload: Any) -> None:
        refused(401, "Unauthorized", check, make(payload))

    def test_payload_must_be_json(self) -> None:
        refused(401, "Unauthorized", check, jwt.PyJWS().encode(b"{not json", SECRET, algorithm="HS256"))

    @given(st.data())
    def test_any_change_to_the_signature_segment_is_refused(self, data: st.DataObject) -> None:
        token = issue(INSTANCE, SECRET, "alice", now=NOW)
        head, signature = token.rsplit(".", 1)
        index = data.draw(st.integers(0, len(signature) - 1))
        char = data.draw(st.sampled_from(B64URL).filter(lambda c: c != signature[index]))
        mutated = f"{head}.{signature[:index]}{char}{signature[index + 1 :]}"
        refused(401, "Unauthorized", check, mutated)

    @given(st.data())
    def test_any_single_character_change_anywhere_is_refused(self, data: st.DataObject) -> None:
        token = issue(INSTANCE, SECRET, "alice", now=NOW)
        index = data.draw(st.integers(0, len(token) - 1))
        char = data.draw(st.characters().filter(lambda c: c != token[index]))
        with pytest.raises(BeamsError) as info:
            check(token[:index] + char + token[index + 1 :])
        assert info.value.status == 401


class TestClaims:
    @pytest.mark.parametrize("name", ["exp", "sub", "iss"])
    def test_missing_claim(self, name: str) -> None:
        error = refused(400, "Bad Request", check, make(claims(**{name: ...})))
        field = {"exp": "expiration", "sub": "subject", "iss": "issuer"}[name]
        assert error.description == f"Missing {field} ({name}) field in JWT"

    @pytest.mark.parametrize("exp", ["4707992302", None, True, [], {}])
    def test_exp_must_be_a_number(self, exp: Any) -> None:
        refused(400, "Bad Request", check, make(claims(exp=exp)))

    @pytest.mark.parametrize("sub", ["", "a" * 165, "\U0001f600" * 165, 42, None, ["alice"], True])
    def test_bad_sub(self, sub: Any) -> None:
        refused(400, "Bad Request", check, make(claims(sub=sub)))

    @pytest.mark.parametrize(
        "iss",
        [
            f"http://{INSTANCE}.pushnotifications.pusher.com",
            f"https://{INSTANCE}.pushnotifications.pusher.com/",
            f"HTTPS://{INSTANCE}.pushnotifications.pusher.com",
            "https://00000000-0000-4000-8000-000000000000.pushnotifications.pusher.com",
            INSTANCE,
            "",
            None,
            ["https://x"],
        ],
    )
    def test_wrong_issuer_is_forbidden(self, iss: Any) -> None:
        error = refused(403, "Forbidden", check, make(claims(iss=iss)))
        assert error.description == "Invalid JWT issuer."

    @pytest.mark.parametrize("exp", [NOW, NOW - 1, 0, -1])
    def test_expired(self, exp: float) -> None:
        error = refused(401, "Unauthorized", check, make(claims(exp=exp)))
        assert "expired" in error.description

    def test_expired_issued_token(self) -> None:
        token = issue(INSTANCE, SECRET, "alice", now=NOW, lifetime=60)
        assert check(token, now=NOW + 59) == "alice"
        refused(401, "Unauthorized", check, token, now=NOW + 60)

"""One token rule per platform: what the device API refuses at registration is exactly what delivery refuses at send.

APNs once had two rules (any even-length hex registered; 8 to 256 bytes were sent), so a short hex token was
stored, then recorded as dead at its first publish. Here a token goes through the real registration parser with
the device API's rule, and the real ApnsProvider.send (its HTTP/2 client replaced by a recorder).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import example, given
from hypothesis import strategies as st

from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.beams.validation import parse_registration
from tidings.errors import BeamsError, BeamsErrorKind
from tidings.providers import device_tokens
from tidings.providers.apns import ApnsProvider
from tidings.providers.base import DeadToken, Delivered, Outcome
from tidings.providers.http2 import Response

_KEY = ec.generate_private_key(ec.SECP256R1()).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
INSTANCE = Instance(
    id=str(uuid.uuid4()),
    secret_key="secret",
    vapid_private_key="unused",
    vapid_public_key="unused",
    providers={"apns": {"key_id": "ABC123DEFG", "team_id": "DEF123GHIJ", "private_key": _KEY,
                        "topic": "com.example.app"}},
)
PUBLISH = Publish(
    id="pubid-1", instance_id=INSTANCE.id, kind="interests", targets=("news",),
    payload={"apns": {"aps": {"alert": "hi"}}},
)


class Recorder:
    """The provider's HTTP/2 client: records each request path and answers 200."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def request(
        self, base_url: str, path: str, headers: Iterable[tuple[str, str]], body: bytes = b"", *, method: str = "POST"
    ) -> Response:
        self.paths.append(path)
        return Response(200, {}, b"")

    async def aclose(self) -> None:
        pass


def register_apns(token: str) -> str | None:
    """The token as stored, or None when the device API refuses it as InvalidToken."""
    body = orjson.dumps({"token": token})
    try:
        return parse_registration(Platform.APNS, body, device_tokens.rule(Platform.APNS)).token
    except BeamsError as error:
        assert error.kind is BeamsErrorKind.INVALID_TOKEN, error.description
        return None


def send_apns(token: str) -> tuple[Outcome, list[str]]:
    recorder = Recorder()
    provider = ApnsProvider("https://apns.invalid", "https://sandbox.invalid", None, http=recorder)
    device = Device(id="apns-1", instance_id=INSTANCE.id, platform=Platform.APNS, token=token)
    return asyncio.run(provider.send(INSTANCE, device, PUBLISH)), recorder.paths


def hex_digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text("0123456789abcdefABCDEF", min_size=low, max_size=high)


APNS_TOKENS = (
    hex_digits(0, 40)  # around the lower bound, odd lengths too
    | hex_digits(500, 530)  # around the upper bound
    | st.builds(lambda t, c: t[:10] + c + t[10:], hex_digits(16, 64), st.sampled_from(" g:/.%é\n"))
    # NUL and lone surrogates are body refusals (no JSON body carries them to the token rule), not token rules.
    | st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=80)
)


@given(APNS_TOKENS)
@example("abcd")  # the token that used to register and then be recorded as dead
@example("ab" * 7)
@example("ab" * 8)
@example("AB" * 32)
@example("ab" * 256)
@example("ab" * 257)
def test_apns_registration_and_send_refuse_the_same_tokens(token: str) -> None:
    stored = register_apns(token)
    if stored is None:
        # Refused at registration: had it been stored anyway (an older server, a restored backup), send refuses it.
        outcome, paths = send_apns(token)
        assert isinstance(outcome, DeadToken) and outcome.status == 0 and not paths, outcome
    else:
        # Accepted at registration: the stored token is sent, to the path APNs expects.
        outcome, paths = send_apns(stored)
        assert outcome == Delivered(200), outcome
        assert paths == [f"/3/device/{stored}"]


@pytest.mark.parametrize("token", ["", "ab" * 7, "abcd", "zz" * 32])
def test_send_refuses_what_registration_refuses_with_the_same_reason(token: str) -> None:
    body = orjson.dumps({"token": token})
    try:
        parse_registration(Platform.APNS, body, device_tokens.rule(Platform.APNS))
    except BeamsError as error:
        refusal = error.description
    outcome, _ = send_apns(token)
    assert isinstance(outcome, DeadToken)
    if token:  # an empty token is the device API's own refusal (a token is required), before any platform's rule
        assert outcome.reason == f"BadDeviceToken ({refusal})"

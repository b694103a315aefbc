"""instance.providers["apns"] validation: clear errors that never quote the key."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tidings.providers.apns import ApnsSettingsError, parse_settings
from tidings.providers.apns.settings import instance_settings

from .conftest import make_instance


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


P256 = _pem(ec.generate_private_key(ec.SECP256R1()))


def _raw(**overrides: Any) -> dict[str, Any]:
    return {"key_id": "ABC123DEFG", "team_id": "DEF123GHIJ", "private_key": P256, **overrides}


def _refused(raw: object) -> str:
    with pytest.raises(ApnsSettingsError) as info:
        parse_settings(raw)
    message = str(info.value)
    assert not re.search(r"[A-Za-z0-9+/]{20}", message)  # never the key's base64, not even a piece of it
    return message


def test_minimal_settings_and_defaults() -> None:
    settings = parse_settings(_raw())
    assert (settings.key_id, settings.team_id, settings.topic, settings.environment) == (
        "ABC123DEFG",
        "DEF123GHIJ",
        None,
        "production",
    )
    assert settings.private_key.get_secret_value() == P256


def test_all_fields() -> None:
    settings = parse_settings(_raw(topic="com.example.app", environment="sandbox"))
    assert (settings.topic, settings.environment) == ("com.example.app", "sandbox")


def test_the_key_never_shows_in_reprs() -> None:
    settings = parse_settings(_raw())
    assert "PRIVATE" not in repr(settings) and "PRIVATE" not in str(settings)
    assert "PRIVATE" not in repr(settings.model_dump())


def test_ids_copied_with_whitespace_are_stripped() -> None:
    assert parse_settings(_raw(key_id=" ABC123DEFG\n")).key_id == "ABC123DEFG"


def test_a_pem_with_escaped_newlines_is_accepted() -> None:
    # What a .p8 looks like after being pasted into a one-line JSON or environment value.
    settings = parse_settings(_raw(private_key=P256.replace("\n", "\\n")))
    assert settings.private_key.get_secret_value().startswith("-----BEGIN PRIVATE KEY-----\n")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"team_id": "DEF123GHIJ", "private_key": P256}, "key_id"),
        (_raw(key_id="AuthKey_ABC123DEFG.p8"), "key_id"),
        (_raw(team_id="com.example.app"), "team_id"),
        (_raw(environment="development"), "environment"),
        (_raw(topic=""), "topic"),
        (_raw(keyId="ABC123DEFG"), "keyId"),
    ],
)
def test_bad_fields_are_named(raw: dict[str, Any], field: str) -> None:
    message = _refused(raw)
    assert message.startswith("invalid APNs settings: ")
    assert field in message


@pytest.mark.parametrize(
    ("private_key", "words"),
    [
        ("not a key", "PEM text of the .p8 file"),
        (P256[: len(P256) // 2], "PEM text of the .p8 file"),  # truncated while copying
        (_pem(ec.generate_private_key(ec.SECP384R1())), "P-256"),
        (_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)), "P-256"),
    ],
)
def test_unusable_keys_are_refused_without_quoting_them(private_key: str, words: str) -> None:
    message = _refused(_raw(private_key=private_key))
    assert "private_key" in message and words in message


def test_not_an_object() -> None:
    assert "invalid APNs settings" in _refused("ABC123DEFG")


def test_instance_settings() -> None:
    assert instance_settings(make_instance()) is None
    assert instance_settings(make_instance(_raw())) == parse_settings(_raw())
    with pytest.raises(ApnsSettingsError):
        instance_settings(make_instance(_raw(team_id="x")))

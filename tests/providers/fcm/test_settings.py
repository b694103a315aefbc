"""instance.providers["fcm"] -> FcmSettings; the private key never shows."""

from __future__ import annotations

import json

import pytest

from tests.support.emulators.fcm import make_service_account
from tidings.providers.fcm import FcmSettingsError, parse_settings

ACCOUNT = make_service_account("proj-a")


def test_service_account_json_as_downloaded() -> None:
    settings = parse_settings({"service_account": ACCOUNT.info})
    assert settings.project == "proj-a"
    assert settings.service_account.client_email == ACCOUNT.client_email
    assert settings.service_account.private_key.get_secret_value() == ACCOUNT.private_key_pem


def test_project_override_and_json_text() -> None:
    settings = parse_settings({"service_account": json.dumps(ACCOUNT.info), "project_id": "proj-b"})
    assert settings.project == "proj-b"


def test_key_never_in_repr() -> None:
    settings = parse_settings({"service_account": ACCOUNT.info})
    secret_line = ACCOUNT.private_key_pem.splitlines()[1]
    assert secret_line not in repr(settings) and secret_line not in str(settings)


@pytest.mark.parametrize(
    "raw",
    [
        {"service_account": {**ACCOUNT.info, "private_key": "not a pem but secret-ish"}},
        {"service_account": {k: v for k, v in ACCOUNT.info.items() if k != "client_email"}},
        {"service_account": {**ACCOUNT.info, "type": "authorized_user"}},
        {"service_account": ACCOUNT.info, "projectId": "typo"},
        {"service_account": "{not json " + ACCOUNT.private_key_pem},
        "just a string",
    ],
)
def test_bad_settings_are_refused_without_quoting_the_input(raw: object) -> None:
    with pytest.raises(FcmSettingsError) as info:
        parse_settings(raw)
    text = str(info.value)
    assert "secret-ish" not in text
    assert ACCOUNT.private_key_pem.splitlines()[1] not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__

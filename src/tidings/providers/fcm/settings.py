"""Per-instance FCM settings, read from `instance.providers["fcm"]`.

    {"service_account": {<the service-account JSON Firebase hands out>}, "project_id": "optional override"}

The service account is validated here, once, so a malformed credential is a clear `Failed` (or an error at the
CLI when it is stored), never a crash deep in token signing. The private key is a `SecretStr`: it does not show
in reprs, tracebacks or logs.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from tidings.errors import ConfigError

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


class ServiceAccount(BaseModel):
    # Google's JSON also carries client_id, auth_uri, cert URLs, universe_domain: not needed to sign, ignored.
    # hide_input_in_errors: a validation error must not quote the input, which holds the private key.
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    type: Literal["service_account"] = "service_account"
    project_id: str = Field(min_length=1)
    private_key_id: str = ""
    private_key: SecretStr  # PEM (PKCS#8) RSA key
    client_email: str = Field(min_length=1)
    # Kept for completeness; the provider posts to its configured `fcm_token_url` so staging can use an emulator.
    token_uri: str = GOOGLE_TOKEN_URI

    @field_validator("private_key")
    @classmethod
    def _looks_like_pem(cls, value: SecretStr) -> SecretStr:
        # The message must not echo the value: it is a secret even when it is wrong.
        if "PRIVATE KEY-----" not in value.get_secret_value():
            raise ValueError("private_key must be a PEM private key")
        return value


class FcmSettings(BaseModel):
    # Unknown keys are refused so a typo ("projectId") is an error rather than a silently ignored option.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    service_account: ServiceAccount
    project_id: str | None = Field(default=None, min_length=1)

    @field_validator("service_account", mode="before")
    @classmethod
    def _accept_json_text(cls, value: Any) -> Any:
        # Operators often paste the downloaded file's text as it is; accept it as well as the object.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("service_account must be the service-account JSON object") from None
        return value

    @property
    def project(self) -> str:
        """The Firebase project messages are sent through: the override, else the service account's."""
        return self.project_id or self.service_account.project_id


class FcmSettingsError(ConfigError, ValueError):
    """`instance.providers["fcm"]` is not usable; the message names fields, never their values."""


def parse_settings(raw: object) -> FcmSettings:
    """Validate `instance.providers["fcm"]` (the CLI can call this before storing, to fail early)."""
    try:
        return FcmSettings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'fcm'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        # Not chained: the cause is only the same errors again, and nothing here may carry the secret.
        raise FcmSettingsError(f"invalid FCM settings: {problems}") from None

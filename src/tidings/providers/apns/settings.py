"""Per-instance APNs settings, read from `instance.providers["apns"]`.

    {"key_id": "ABC123DEFG", "team_id": "DEF123GHIJ", "private_key": "-----BEGIN PRIVATE KEY-----\\n...",
     "topic": "com.example.app", "environment": "production" | "sandbox"}

Token-based authentication (a .p8 signing key from the Apple developer account) is the only mode: it works for
every app of the team and never expires, unlike per-app TLS certificates. The key is validated here, once, so a
pasted certificate or a truncated key is a clear `Failed` (or an error at the CLI when it is stored), never a
crash deep in JWT signing. It is a `SecretStr`: it does not show in reprs, tracebacks or logs.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from tidings.beams.models import Instance
from tidings.errors import ConfigError

Environment = Literal["production", "sandbox"]

# Apple's key and team identifiers are both 10 upper-case letters and digits; checking the shape catches the
# common mix-ups (a bundle id in team_id, the key file name "AuthKey_ABC123DEFG.p8" in key_id) before APNs does.
_APPLE_ID = r"^[A-Z0-9]{10}$"


class ApnsSettings(BaseModel):
    # Unknown keys are refused so a typo ("keyId") is an error rather than a silently ignored option.
    # hide_input_in_errors: a validation error must not quote the input, which holds the private key.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    key_id: str = Field(pattern=_APPLE_ID, description="The 10-character Key ID of the .p8 signing key")
    team_id: str = Field(pattern=_APPLE_ID, description="The 10-character Team ID that owns the key")
    private_key: SecretStr = Field(description="Text of the .p8 file: a PEM (PKCS#8) P-256 private key")
    topic: str | None = Field(
        default=None, min_length=1, description="apns-topic; default: the device's bundle identifier"
    )
    environment: Environment = Field(default="production", description="Which APNs gateway the devices belong to")

    @field_validator("key_id", "team_id", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        # Copied from the developer portal these often carry a trailing space or newline.
        return value.strip() if isinstance(value, str) else value

    @field_validator("private_key", mode="before")
    @classmethod
    def _normalise_pem(cls, value: object) -> object:
        # A PEM pasted into a single-line JSON or env value often arrives with literal "\n" sequences.
        if isinstance(value, str) and "\n" not in value.strip() and "\\n" in value:
            return value.replace("\\n", "\n")
        return value

    @field_validator("private_key")
    @classmethod
    def _is_p256_key(cls, value: SecretStr) -> SecretStr:
        # The messages must not echo the value: it is a secret even when it is wrong.
        signing_key(value.get_secret_value())
        return value

    @property
    def key_fingerprint(self) -> str:
        """A digest of the private key: tells a replaced key apart from the old one without holding its text."""
        return hashlib.sha256(self.private_key.get_secret_value().encode()).hexdigest()[:16]


@lru_cache(maxsize=256)
def signing_key(pem: str) -> ec.EllipticCurvePrivateKey:
    """Load a .p8 key (cached: parsing costs more than signing, and the same few keys are used all day)."""
    try:
        key = load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("private_key must be the PEM text of the .p8 file (-----BEGIN PRIVATE KEY-----)") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("private_key must be an EC P-256 key (APNs signs provider tokens with ES256)")
    return key


class ApnsSettingsError(ConfigError, ValueError):
    """`instance.providers["apns"]` is not usable; the message names fields, never their values."""


def parse_settings(raw: object) -> ApnsSettings:
    """Validate `instance.providers["apns"]` (the CLI can call this before storing, to fail early)."""
    try:
        return ApnsSettings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'apns'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        # Not chained: the cause is only the same errors again, and nothing here may carry the secret.
        raise ApnsSettingsError(f"invalid APNs settings: {problems}") from None


def instance_settings(instance: Instance) -> ApnsSettings | None:
    """The instance's APNs settings, None when it has none; raises ApnsSettingsError when they are unusable."""
    raw = instance.providers.get("apns")
    if raw is None:
        return None
    return parse_settings(raw)

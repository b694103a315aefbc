"""FCM HTTP v1 answers -> Outcome, and the token-endpoint error. Pure: status, body and Retry-After in.

FCM v1 errors are google.rpc.Status JSON with an FCM-specific code in the details:

    {"error": {"code": 404, "message": "...", "status": "NOT_FOUND",
               "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                            "errorCode": "UNREGISTERED"}]}}

Only answers that are about *this device token* become DeadToken: a wrong project or a broken credential
must never make the pipeline delete every device of an instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tidings.errors import ProviderError
from tidings.providers.base import DeadToken, Delivered, Failed, Outcome, Retry
from tidings.providers.retry import retry_after

_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
_TOKEN_FIELDS = frozenset({"message.token", "token"})
_MAX_REASON = 200  # FCM's messages are short; this only keeps a hostile or broken answer out of the logs


class TokenError(ProviderError):
    """The OAuth2 token endpoint did not give an access token (always retried: Google's endpoint has outages
    and a fixed credential starts working again without a restart)."""

    def __init__(self, reason: str, *, status: int = 0, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.after = after


class CredentialError(ProviderError):
    """The service account's key cannot sign an assertion: a configuration problem, not retried."""


@dataclass(frozen=True, slots=True)
class FcmError:
    code: int
    status: str  # google.rpc code name: NOT_FOUND, INVALID_ARGUMENT, ...
    error_code: str  # FcmError.errorCode (UNREGISTERED, SENDER_ID_MISMATCH, ...) or "" when absent
    message: str
    token_fields: bool  # a BadRequest field violation names the registration token

    @property
    def name(self) -> str:
        return self.error_code or self.status or str(self.code)

    @property
    def about_token(self) -> bool:
        return self.token_fields or "registration token" in self.message.lower()


def parse_error(body: bytes) -> FcmError | None:
    """The FCM error in an answer body, or None when the body is not google.rpc.Status JSON."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None
    error_code, token_fields = "", False
    for detail in _list(error.get("details")):
        if detail.get("@type") == _FCM_ERROR_TYPE and isinstance(detail.get("errorCode"), str):
            error_code = detail["errorCode"]
        elif detail.get("@type") == _BAD_REQUEST_TYPE:
            violations = _list(detail.get("fieldViolations"))
            token_fields = token_fields or any(v.get("field") in _TOKEN_FIELDS for v in violations)
    code = error.get("code")
    return FcmError(
        code=code if isinstance(code, int) else 0,
        status=str(error.get("status") or ""),
        error_code=error_code,
        message=str(error.get("message") or "")[:_MAX_REASON],
        token_fields=token_fields,
    )


def classify(status: int, body: bytes, retry_after_header: str | None, now: float) -> Outcome:
    """What one `messages:send` answer means for the pipeline (see base.py for the outcomes)."""
    if 200 <= status < 300:
        return Delivered(status)
    error = parse_error(body)
    name = error.name if error else f"HTTP {status}"
    detail = f"{name}: {error.message}" if error and error.message else name
    if error and error.error_code == "UNREGISTERED":
        return DeadToken(name, status)
    if status == 404:
        # Without FCM's error JSON this is not FCM speaking (a wrong fcm_url, a proxy): the token is not at fault.
        return DeadToken(name, status) if error else Failed(f"{detail} (not an FCM answer; check fcm_url)", status)
    if status == 400:
        # INVALID_ARGUMENT also covers a bad payload (too big, bad field): only a token complaint kills the device.
        return DeadToken(detail, status) if error and error.about_token else Failed(detail, status)
    if status == 401:
        if error and error.error_code == "THIRD_PARTY_AUTH_ERROR":
            return Failed(detail, status)  # the project's APNs/web credential in Firebase, not ours: not retried
        return Retry(detail, None, status)  # our access token was refused; the provider drops it before retrying
    if status == 403:
        if error and error.error_code == "SENDER_ID_MISMATCH":
            return DeadToken(name, status)  # the token belongs to another Firebase project
        return Failed(detail, status)  # the service account may not send for this project
    if status in (408, 429) or status >= 500:
        return Retry(detail, retry_after(retry_after_header, now), status)
    return Failed(detail, status)



def _list(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

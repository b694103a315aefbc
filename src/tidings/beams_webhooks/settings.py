"""Per-instance Beams webhook targets, read from `instance.providers["webhooks"]`.

    [{"id": "<uuid>", "url": "https://example.com/beams-hooks", "secret": "...",
      "events": ["v1.PublishToUsersAttempt"], "custom_data": {"env": "prod"}}]

A list, because Pusher lets an instance have several webhooks, each with its own URL, secret, events and
custom data (docs/beams/concepts/webhooks.md "Configuration options"). The `id` is sent as Webhook-ID-UUID so a
receiver can tell its webhooks apart; it is generated once, when the webhook is first stored, and kept.
The secret is a `SecretStr`: it does not show in reprs, tracebacks or logs, and validation errors never quote it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from tidings.beams.models import Instance
from tidings.errors import ConfigError

PUBLISH_TO_USERS_ATTEMPT = "v1.PublishToUsersAttempt"
USER_NOTIFICATION_ACKNOWLEDGEMENT = "v1.UserNotificationAcknowledgement"
USER_NOTIFICATION_OPEN = "v1.UserNotificationOpen"
EventType = Literal["v1.PublishToUsersAttempt", "v1.UserNotificationAcknowledgement", "v1.UserNotificationOpen"]
EVENT_TYPES: tuple[EventType, ...] = (
    "v1.PublishToUsersAttempt",
    "v1.UserNotificationAcknowledgement",
    "v1.UserNotificationOpen",
)
PROVIDERS_KEY = "webhooks"


class BeamsWebhook(BaseModel):
    # Unknown keys are refused so a typo ("customData") is an error rather than a silently ignored option.
    # hide_input_in_errors: a validation error must not quote the input, which holds the secret.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), description="Sent as Webhook-ID-UUID")
    url: str = Field(pattern=r"^https?://[^\s/]+", max_length=2048, description="Where the events are POSTed")
    secret: SecretStr = Field(description="HMAC-SHA1 key of the Webhook-Signature header")
    events: tuple[EventType, ...] = Field(default=(), description="Event types to send; empty means all")
    custom_data: dict[str, Any] = Field(default_factory=dict, description="Sent as `custom_data` in every body")

    @field_validator("id")
    @classmethod
    def _is_uuid(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError("id must be a UUID (it is sent as Webhook-ID-UUID)") from None

    @field_validator("secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        # An empty key still "signs", but every receiver following Pusher's example would accept forgeries.
        if not value.get_secret_value():
            raise ValueError("secret must not be empty")
        return value

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.events

    def stored(self) -> dict[str, Any]:
        """The JSON form kept in `instance.providers["webhooks"]` (the secret in clear: storage needs it)."""
        return {
            "id": self.id,
            "url": self.url,
            "secret": self.secret.get_secret_value(),
            "events": list(self.events),
            "custom_data": self.custom_data,
        }


class WebhookSettingsError(ConfigError, ValueError):
    """`instance.providers["webhooks"]` is not usable; the message names fields, never their values."""


def parse_webhooks(raw: object) -> tuple[BeamsWebhook, ...]:
    """Validate `instance.providers["webhooks"]` (the CLI calls this before storing, to fail early)."""
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise WebhookSettingsError("invalid webhook settings: webhooks must be a list of objects")
    hooks = []
    for index, item in enumerate(raw):
        try:
            hooks.append(BeamsWebhook.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"webhooks.{index}.{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                for error in exc.errors(include_input=False, include_url=False)
            )
            # Not chained: the cause is only the same errors again, and nothing here may carry the secret.
            raise WebhookSettingsError(f"invalid webhook settings: {problems}") from None
    return tuple(hooks)


def instance_webhooks(instance: Instance) -> tuple[BeamsWebhook, ...]:
    """The instance's webhooks, () when it has none; raises WebhookSettingsError when they are unusable."""
    return parse_webhooks(instance.providers.get(PROVIDERS_KEY))

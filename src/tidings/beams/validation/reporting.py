"""The reporting API: delivery and open events the SDKs send about a publish."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tidings.beams.validation.names import MAX_ID_LENGTH
from tidings.beams.validation.request import bad_request, is_int_between, load_object

MAX_REPORTING_BODY = 16 * 1024

EventType = Literal["delivery", "open"]
_EVENT_TYPES: dict[str, EventType] = {"delivery": "delivery", "open": "open"}


@dataclass(frozen=True)
class ReportingEvent:
    event: EventType
    publish_id: str
    device_id: str
    timestamp_secs: int
    user_id: str | None = None
    app_in_background: bool | None = None
    has_displayable_content: bool | None = None
    has_data: bool | None = None
    instance_id: str | None = None  # iOS and Android repeat it in the body; web does not

    @property
    def extra(self) -> dict[str, Any]:
        """The optional fields that were sent, under their wire names (what storage keeps beside the event)."""
        sent = {
            "appInBackground": self.app_in_background,
            "hasDisplayableContent": self.has_displayable_content,
            "hasData": self.has_data,
            "instanceId": self.instance_id,
        }
        return {name: value for name, value in sent.items() if value is not None}


def parse_reporting_event(body: bytes) -> ReportingEvent:
    request = load_object(body, MAX_REPORTING_BODY)
    event = request.get("event")
    # Web sends "delivery"/"open", iOS and Android "Delivery"/"Open".
    kind = _EVENT_TYPES.get(event.lower()) if isinstance(event, str) else None
    if kind is None:
        raise bad_request("`event` must be `delivery` or `open`")
    timestamp = request.get("timestampSecs")
    if not is_int_between(timestamp, 0, 2**63 - 1):
        raise bad_request("`timestampSecs` must be a non-negative integer")
    return ReportingEvent(
        event=kind,
        publish_id=_required_id(request, "publishId"),
        device_id=_required_id(request, "deviceId"),
        timestamp_secs=timestamp,
        user_id=_optional_id(request, "userId"),
        app_in_background=_optional_bool(request, "appInBackground"),
        has_displayable_content=_optional_bool(request, "hasDisplayableContent"),
        has_data=_optional_bool(request, "hasData"),
        instance_id=_optional_id(request, "instanceId"),
    )


def _required_id(request: dict[str, Any], field: str) -> str:
    value = request.get(field)
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_LENGTH:
        raise bad_request(f"`{field}` must be a string of 1 to {MAX_ID_LENGTH} characters")
    return value


def _optional_id(request: dict[str, Any], field: str) -> str | None:
    value = request.get(field)
    if value is None or value == "":
        return None
    return _required_id(request, field)


def _optional_bool(request: dict[str, Any], field: str) -> bool | None:
    value = request.get(field)
    if value is not None and not isinstance(value, bool):
        raise bad_request(f"`{field}` must be a boolean")
    return value

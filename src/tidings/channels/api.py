"""Validation of Channels HTTP API request bodies and query parameters (docs/protocol/channels.md §4.2, §5).

Everything here turns untrusted input into plain values or raises an ApiError subclass; nothing else
escapes, so the web layer maps errors to responses in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import orjson

from tidings.channels.apps import AppLimits
from tidings.channels.names import (
    ChannelKind,
    channel_type,
    check_channel_name,
    check_event_name,
    check_socket_id,
)
from tidings.errors import ApiError, BadRequest, PayloadTooLarge

TRIGGER_INFO = frozenset({"user_count", "subscription_count"})
CHANNEL_INFO = frozenset({"user_count", "subscription_count", "cache"})
CHANNELS_INFO = frozenset({"user_count"})


@dataclass(frozen=True, slots=True)
class TriggerEvent:
    name: str
    data: str
    channels: tuple[str, ...]
    socket_id: str | None
    info: frozenset[str]


def parse_json_body(body: bytes) -> dict[str, object]:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("Request body is not valid JSON") from exc
    if not isinstance(obj, dict):
        raise BadRequest("Request body must be a JSON object")
    return obj


def parse_trigger(body: bytes, limits: AppLimits) -> TriggerEvent:
    """The body of POST /apps/{id}/events."""
    return parse_trigger_obj(parse_json_body(body), limits)


def parse_trigger_obj(obj: object, limits: AppLimits) -> TriggerEvent:
    """One event from an already parsed JSON value. Optional fields given as null count as absent."""
    if not isinstance(obj, dict):
        raise BadRequest("Event must be a JSON object")
    if "name" not in obj:
        raise BadRequest("Missing event `name`")
    name = obj["name"]
    if (error := check_event_name(name, limits.max_event_name_length)) is not None:
        raise BadRequest(error)
    if "data" not in obj:
        raise BadRequest("Missing event `data`")
    data = _data_string(obj["data"], limits.max_event_data_bytes)
    return TriggerEvent(
        name=cast(str, name),  # check_event_name accepted it, so it is a str
        data=data,
        channels=_channels(obj.get("channels"), obj.get("channel"), limits),
        socket_id=_socket_id(obj.get("socket_id")),
        info=_info(obj.get("info")),
    )


def parse_batch(body: bytes, limits: AppLimits) -> list[TriggerEvent]:
    """The body of POST /apps/{id}/batch_events: `{"batch": [event, ...]}`."""
    batch = parse_json_body(body).get("batch")
    if not isinstance(batch, list):
        raise BadRequest("`batch` must be a list of events")
    if not batch:
        raise BadRequest("`batch` must contain at least one event")
    if len(batch) > limits.max_batch_size:
        raise BadRequest(f"Batch too large: {len(batch)} events, the limit is {limits.max_batch_size}")
    events = []
    for i, item in enumerate(batch):
        try:
            events.append(parse_trigger_obj(item, limits))
        except ApiError as exc:
            # Same class (a too-large event is still a 413), with the event's position in front.
            raise type(exc)(f"batch[{i}]: {exc.message}", status=exc.status) from exc
    return events


def parse_info(raw: str | None, allowed: frozenset[str]) -> frozenset[str]:
    """A comma-separated `info` value; blanks around and between items are ignored."""
    if raw is None:
        return frozenset()
    attributes = frozenset(part.strip() for part in raw.split(",")) - {""}
    unknown = attributes - allowed
    if unknown:
        shown = ", ".join(_shown(a) for a in sorted(unknown)[:5])
        raise BadRequest(f"Unknown info attribute(s) {shown}; supported: {', '.join(sorted(allowed))}")
    return attributes


def check_channel_info_request(channel: str, info: frozenset[str]) -> None:
    """GET /apps/{id}/channels/{channel}: may `info` be asked of this kind of channel? (The name is
    validated by the caller.)"""
    unknown = info - CHANNEL_INFO
    if unknown:
        raise BadRequest(f"Unknown info attribute(s): {', '.join(_shown(a) for a in sorted(unknown)[:5])}")
    kind = channel_type(channel)
    if "user_count" in info and not kind.is_presence:
        raise BadRequest("info=user_count is only available for presence channels")
    if "subscription_count" in info and kind.kind is ChannelKind.USER:
        raise BadRequest("info=subscription_count is not available for user channels")
    if "cache" in info and not kind.cache:
        raise BadRequest("info=cache is only available for cache channels")


def check_channels_request(filter_by_prefix: str | None, info: frozenset[str]) -> None:
    """GET /apps/{id}/channels: only `user_count`, and only when listing presence channels."""
    unknown = info - CHANNELS_INFO
    if unknown:
        raise BadRequest(
            f"Unsupported info attribute(s) {', '.join(_shown(a) for a in sorted(unknown)[:5])}: "
            "GET /channels supports only info=user_count"
        )
    if "user_count" in info and not (filter_by_prefix or "").startswith("presence-"):
        raise BadRequest("info=user_count requires filter_by_prefix to start with 'presence-'")


def _data_string(value: object, max_bytes: int) -> str:
    if isinstance(value, str):
        data = value
    else:
        # Forwarded verbatim to subscribers as a string, so encode a non-string once here, compactly.
        try:
            data = orjson.dumps(value).decode()
        except TypeError as exc:  # orjson.JSONEncodeError: too deep, or not JSON at all
            raise BadRequest("Event `data` must be a string or a JSON value") from exc
    try:
        size = len(data.encode())
    except UnicodeEncodeError as exc:  # a lone surrogate; only reachable from a non-orjson parser
        raise BadRequest("Event `data` is not valid Unicode text") from exc
    if size > max_bytes:
        raise PayloadTooLarge(f"Event data is too large: {size} bytes, the limit is {max_bytes} bytes")
    return data


def _channels(many: object, one: object, limits: AppLimits) -> tuple[str, ...]:
    if many is not None and one is not None:
        raise BadRequest("Give either `channels` or `channel`, not both")
    if many is not None:
        if not isinstance(many, list):
            raise BadRequest("`channels` must be a list of channel names")
        if not many:
            raise BadRequest("`channels` must not be empty")
        if len(many) > limits.max_channels_per_event:
            raise BadRequest(f"Too many channels: {len(many)}, the limit is {limits.max_channels_per_event} per event")
        names: list[object] = many
    elif one is not None:
        names = [one]
    else:
        raise BadRequest("Missing `channels` (a list of names) or `channel` (a name)")
    for name in names:
        if (error := check_channel_name(name, limits.max_channel_name_length)) is not None:
            raise BadRequest(error)
    channels = tuple(dict.fromkeys(cast("list[str]", names)))  # all valid names; dedupe, keep order
    if len(channels) > 1 and any(channel_type(c).kind is ChannelKind.ENCRYPTED for c in channels):
        # Each encrypted channel has its own key, so one payload cannot be valid on several.
        raise BadRequest("An event for an encrypted channel must be sent to that channel alone")
    return channels


def _socket_id(value: object) -> str | None:
    if value is None:
        return None
    if not check_socket_id(value):
        shown = _shown(value) if isinstance(value, str) else type(value).__name__
        raise BadRequest(f"Invalid socket_id {shown}: expected digits.digits")
    return cast(str, value)


def _info(value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, str):
        raise BadRequest("`info` must be a comma-separated string")
    return parse_info(value, TRIGGER_INFO)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "...")

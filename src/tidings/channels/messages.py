"""Pusher protocol 7 messages: parse what clients send, build what the server sends.

Builders return the JSON payload as bytes, ready to be framed once and written to many sockets.
`data` of channel events is a JSON-encoded string ("double encoding"), as real Pusher sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tidings.errors import ProtocolError


@dataclass(frozen=True, slots=True)
class ClientMessage:
    event: str
    channel: str | None
    data: Any


def parse(text: str | bytes) -> ClientMessage:
    """Parse one client frame; malformed input raises a non-closing ProtocolError."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(None, f"Invalid JSON: {exc.msg}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(None, "Invalid message: expected a JSON object")
    event = obj.get("event")
    if not isinstance(event, str) or not event:
        raise ProtocolError(None, "Invalid message: missing 'event'")
    channel = obj.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise ProtocolError(None, "Invalid message: 'channel' must be a string")
    data = obj.get("data")
    # Some clients double-encode the data of pusher: events; accept both forms.
    if isinstance(data, str) and event.startswith("pusher:"):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return ClientMessage(event, channel, data)


def encode_data(data: Any) -> str:
    """Channel event data travels as a string; anything else is JSON-encoded compactly."""
    if isinstance(data, str):
        return data
    return orjson.dumps(data).decode()


def event(name: str, channel: str, data: str, user_id: str | None = None) -> bytes:
    msg: dict[str, str] = {"event": name, "channel": channel, "data": data}
    if user_id is not None:
        msg["user_id"] = user_id
    return orjson.dumps(msg)


def connection_established(socket_id: str, activity_timeout: int) -> bytes:
    data = orjson.dumps({"socket_id": socket_id, "activity_timeout": activity_timeout}).decode()
    return orjson.dumps({"event": "pusher:connection_established", "data": data})


def error(code: int | None, message: str, channel: str | None = None) -> bytes:
    msg: dict[str, Any] = {"event": "pusher:error", "data": {"code": code, "message": message}}
    if channel is not None:
        msg["channel"] = channel
    return orjson.dumps(msg)


def subscription_error(channel: str, type: str, message: str, status: int) -> bytes:
    return orjson.dumps(
        {
            "event": "pusher:subscription_error",
            "channel": channel,
            "data": {"type": type, "error": message, "status": status},
        }
    )


def subscription_succeeded(channel: str, presence: dict[str, Any] | None = None) -> bytes:
    data = "{}" if presence is None else orjson.dumps({"presence": presence}).decode()
    return orjson.dumps({"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": data})


def member_added(channel: str, user_id: str, user_info: Any) -> bytes:
    payload: dict[str, Any] = {"user_id": user_id}
    if user_info is not None:
        payload["user_info"] = user_info
    return event("pusher_internal:member_added", channel, orjson.dumps(payload).decode())


def member_removed(channel: str, user_id: str) -> bytes:
    return event("pusher_internal:member_removed", channel, orjson.dumps({"user_id": user_id}).decode())


def subscription_count(channel: str, count: int) -> bytes:
    data = orjson.dumps({"subscription_count": count}).decode()
    return event("pusher_internal:subscription_count", channel, data)


def cache_miss(channel: str) -> bytes:
    return orjson.dumps({"event": "pusher:cache_miss", "channel": channel})


PING = orjson.dumps({"event": "pusher:ping", "data": {}})
PONG = orjson.dumps({"event": "pusher:pong", "data": {}})


def signin_success(user_data: str) -> bytes:
    return orjson.dumps({"event": "pusher:signin_success", "data": {"user_data": user_data}})


def watchlist_events(events: list[tuple[str, list[str]]]) -> bytes:
    """`pusher_internal:watchlist_events` as pusher-js's user.watchlist reads it: {events: [{name, user_ids}]}."""
    data = {"events": [{"name": name, "user_ids": ids} for name, ids in events]}
    return orjson.dumps({"event": "pusher_internal:watchlist_events", "data": data})

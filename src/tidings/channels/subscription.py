"""Who may subscribe to what: the pure part of `pusher:subscribe`.

`authorize` checks the channel name, the signature and the presence channel_data, and returns a Grant.
State-dependent checks (already subscribed, presence roster full) belong to the hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tidings.channels import names, signatures
from tidings.channels.apps import App
from tidings.errors import ProtocolError, SubscriptionError


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A connection's signed-in user (pusher:signin)."""

    id: str
    user_info: Any = None
    watchlist: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Grant:
    channel: str
    type: names.ChannelType
    user_id: str | None = None  # presence member id
    user_info: Any = None


def channel_of(data: object) -> str:
    if not isinstance(data, dict) or not isinstance(data.get("channel"), str):
        raise ProtocolError(None, "Invalid subscription: 'data.channel' must be a string")
    return str(data["channel"])


def authorize(app: App, socket_id: str, data: dict[str, Any], user: SignedIn | None) -> Grant:
    channel = channel_of(data)
    problem = names.check_channel_name(channel, app.limits.max_channel_name_length)
    if problem is not None:
        if len(channel) > app.limits.max_channel_name_length:
            raise SubscriptionError(channel, problem, type="LimitReached", status=4009)
        raise SubscriptionError(channel, problem, type="InvalidChannel", status=400)
    ctype = names.channel_type(channel)

    if ctype.kind is names.ChannelKind.USER:
        if user is None or names.user_id_of_channel(channel) != user.id:
            raise SubscriptionError(channel, "Only the signed-in user may subscribe to their user channel", status=403)
        return Grant(channel, ctype)
    if not ctype.requires_auth:
        return Grant(channel, ctype)

    auth = data.get("auth")
    channel_data = data.get("channel_data") if ctype.is_presence else None
    if channel_data is not None and not isinstance(channel_data, str):
        raise SubscriptionError(channel, "channel_data must be a JSON string", type="InvalidChannelData", status=400)
    message = signatures.channel_string(socket_id, channel, channel_data)
    if not signatures.verify_token(app.key, app.secret, message, auth):
        raise SubscriptionError(
            channel,
            f"Invalid signature: Expected HMAC SHA256 hex digest of {message}, but got {auth}",
            status=401,
        )
    if not ctype.is_presence:
        return Grant(channel, ctype)
    if channel_data is None:
        # A signed-in connection may omit channel_data: its member comes from the sign-in user_data.
        if user is None:
            raise SubscriptionError(
                channel, "Presence subscription needs channel_data or a signed-in user", status=400
            )
        user_id, user_info = user.id, user.user_info
    else:
        user_id, user_info = _member_of(channel, channel_data)
    if user_info is not None:
        size = len(orjson.dumps(user_info))
        if size > app.limits.max_presence_user_info_bytes:
            raise SubscriptionError(
                channel,
                f"user_info is {size} bytes, over the {app.limits.max_presence_user_info_bytes} byte limit",
                type="LimitReached",
                status=4301,
            )
    return Grant(channel, ctype, user_id, user_info)


def _member_of(channel: str, channel_data: str) -> tuple[str, Any]:
    try:
        parsed = orjson.loads(channel_data)
    except orjson.JSONDecodeError:
        raise SubscriptionError(
            channel, "channel_data is not valid JSON", type="InvalidChannelData", status=400
        ) from None
    if not isinstance(parsed, dict):
        raise SubscriptionError(channel, "channel_data must be a JSON object", type="InvalidChannelData", status=400)
    raw_id = parsed.get("user_id")
    # Numeric ids are common in server SDK examples; members are keyed by their string form.
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
        raise SubscriptionError(
            channel, "channel_data.user_id must be a non-empty string or a number", type="InvalidChannelData",
            status=400,
        )
    return str(raw_id), parsed.get("user_info")

"""Who may subscribe to what: the pure part of `pusher:subscribe`.

`authorize` checks the channel name, the signature and the presence channel_data, and returns a Grant.
State-dependent checks (already subscribed, presence roster full) belong to the hub; `check_channel_count`
is the pure half of the per-connection channel limit, for the caller that knows the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tidings.channels import names, signatures
from tidings.channels.apps import App
from tidings.errors import ProtocolError, SubscriptionError

# Pusher's presence limit (docs/protocol/channels.md §5). Sign-in ids may be longer (§3), so an id from the
# signed-in user is checked here too.
MAX_PRESENCE_USER_ID = 128


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
    raw_data = data.get("channel_data")  # null is absent (pusher-js omits it when the auth response has none)
    if ctype.is_presence and raw_data is not None and not isinstance(raw_data, str):
        raise SubscriptionError(channel, "channel_data must be a JSON string", type="InvalidChannelData", status=400)
    # Elsewhere a non-string channel_data means nothing and was always ignored; it still is.
    channel_data = raw_data if isinstance(raw_data, str) else None
    # A sent channel_data is signed as `sid:channel:channel_data` whatever the channel kind: the server SDKs sign
    # so for any channel given custom data, pusher-js forwards it, and Slanger (which copies Pusher) checks so.
    message = signatures.channel_string(socket_id, channel, channel_data)
    if not signatures.verify_token(app.key, app.secret, message, auth) and not (
        # Private/encrypted channels keep taking the plain `sid:channel` token even then, as before channel_data
        # was read for them: there it grants nothing. Presence channel_data names the member: it must be signed.
        channel_data is not None
        and not ctype.is_presence
        and signatures.verify_token(app.key, app.secret, signatures.channel_string(socket_id, channel), auth)
    ):
        raise SubscriptionError(
            channel,
            f"Invalid signature: Expected HMAC SHA256 hex digest of {message}, but got {auth}",
            status=401,
        )
    if not ctype.is_presence:
        return Grant(channel, ctype)  # never a member, whatever channel_data says
    if channel_data is None:
        # A signed-in connection may omit channel_data: its member comes from the sign-in user_data.
        if user is None:
            raise SubscriptionError(
                channel, "Presence subscription needs channel_data or a signed-in user", status=400
            )
        user_id, user_info = user.id, user.user_info
    else:
        user_id, user_info = _member_of(channel, channel_data)
    if len(user_id) > MAX_PRESENCE_USER_ID:
        # LimitReached/4301, as for an over-size user_info below: both are the member's data over a size limit
        # (soketi's member-size refusal), not malformed data (InvalidChannelData/400) nor a full channel (4100).
        raise SubscriptionError(
            channel,
            f"user_id is {len(user_id)} characters, over the {MAX_PRESENCE_USER_ID} character limit",
            type="LimitReached",
            status=4301,
        )
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


def check_channel_count(channel: str, current: int, limit: int | None) -> None:
    """Refuse subscribing to `channel` when the connection already has `current` channels and `limit` allows no more.

    `current` counts the connection's subscriptions without `channel` (call it for a channel not yet subscribed);
    `limit` is the app's `limits.max_channels_per_connection`, None for unlimited.
    """
    if limit is not None and current >= limit:
        # LimitReached/4100, as for a full presence roster: a count at capacity (pusher-js's "over capacity" code),
        # which unsubscribing elsewhere frees; not 4009 (a name over its length) nor 4301 (data over its size).
        raise SubscriptionError(
            channel,
            f"The maximum number of channels per connection ({limit}) has been reached",
            type="LimitReached",
            status=4100,
        )


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

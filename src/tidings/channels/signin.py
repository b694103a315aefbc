"""`pusher:signin`: verify the user token and read `user_data` (docs/protocol/channels.md §2.6, §3).

The signature is over `socket_id::user::user_data` exactly as received; only then is user_data parsed.
Every failure is a 4009 (the connection is closed); an over-long watchlist is cut to the app's
`max_watchlist_size` (100 by default) with a 4302 warning. `expires_at` (Unix seconds, optional) ends the
session: a sign-in already past it is refused, and the session closes the connection when it comes
(docs/users.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tidings.channels import names, signatures
from tidings.channels.apps import App
from tidings.channels.codes import Code
from tidings.errors import ProtocolError

MAX_WATCHLIST = 100  # Pusher's; the default of the app limit max_watchlist_size
# An id must make a valid `#server-to-user-{id}` channel name, or pusher-js could never subscribe to it.
# Not Pusher's 128: that cap is documented for presence only (docs/protocol/channels.md §3), and presence enforces it.
MAX_USER_ID = 200 - len(names.USER_CHANNEL_PREFIX)


@dataclass(frozen=True, slots=True)
class SignIn:
    user_id: str
    user_data: str
    user_info: Any
    watchlist: tuple[str, ...]
    watchlist_truncated: bool
    expires_at: float | None = None  # Unix seconds, from user_data (signed by the customer's backend)


def _fail(message: str) -> ProtocolError:
    return ProtocolError(Code.UNAUTHORIZED, message)


def verify(app: App, socket_id: str, data: Any, wall_now: float | None = None) -> SignIn:
    """`wall_now` (Unix seconds) refuses a user_data whose `expires_at` has passed; None skips that check."""
    if not isinstance(data, dict):
        raise _fail("Invalid signin: 'data' must be an object")
    user_data, auth = data.get("user_data"), data.get("auth")
    if not isinstance(user_data, str):
        raise _fail("Invalid signin: 'user_data' must be a JSON string")
    if not signatures.verify_token(app.key, app.secret, signatures.signin_string(socket_id, user_data), auth):
        raise _fail("Invalid signin: the signature does not match socket_id::user::user_data")
    try:
        parsed = orjson.loads(user_data)
    except orjson.JSONDecodeError:
        raise _fail("Invalid signin: user_data is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise _fail("Invalid signin: user_data must be a JSON object")
    user_id = parsed.get("id")
    if not isinstance(user_id, str) or not user_id:
        raise _fail("Invalid signin: user_data.id must be a non-empty string")
    if len(user_id) > MAX_USER_ID or names.check_channel_name(names.USER_CHANNEL_PREFIX + user_id) is not None:
        raise _fail(f"Invalid signin: user id must be 1..{MAX_USER_ID} characters of [-a-zA-Z0-9_=@,.;]")
    raw_watchlist = parsed.get("watchlist", [])
    if not isinstance(raw_watchlist, list) or not all(isinstance(w, str) and w for w in raw_watchlist):
        raise _fail("Invalid signin: user_data.watchlist must be a list of user id strings")
    expires_at = parsed.get("expires_at")
    if expires_at is not None:
        if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
            raise _fail("Invalid signin: user_data.expires_at must be a number (Unix seconds)")
        if wall_now is not None and expires_at <= wall_now:
            raise _fail("Invalid signin: the session expired (user_data.expires_at has passed)")
    watchlist = tuple(dict.fromkeys(raw_watchlist))  # dedupe, keep order
    limit = app.limits.max_watchlist_size
    return SignIn(
        user_id=user_id,
        user_data=user_data,
        user_info=parsed.get("user_info"),
        watchlist=watchlist[:limit],
        watchlist_truncated=len(watchlist) > limit,
        expires_at=float(expires_at) if expires_at is not None else None,
    )


def check_watchlist(app: App, raw: Any) -> tuple[str, ...]:
    """The body of a live-watchlist change, `{"watchlist": [ids]}`: user ids as a sign-in would take them.
    Raises ValueError with a message for the HTTP answer."""
    if not isinstance(raw, dict) or not isinstance(raw.get("watchlist"), list):
        raise ValueError('Body must be {"watchlist": [user ids]}')
    ids = raw["watchlist"]
    if not all(isinstance(w, str) and w for w in ids):
        raise ValueError("watchlist must be a list of non-empty user id strings")
    watchlist = tuple(dict.fromkeys(ids))
    # Checked before the length, as the path's user id is: an id no sign-in can have (NUL, oversize) is refused
    # here rather than kept on every connection of the user and sent to every node.
    for watched in watchlist:
        problem = check_user_id(watched)
        if problem is not None:
            raise ValueError(f"watchlist: {problem}")
    limit = app.limits.max_watchlist_size
    if len(watchlist) > limit:
        raise ValueError(f"Watchlist too long: {len(watchlist)} user ids, the limit is {limit}")
    return watchlist


def check_user_id(user_id: str) -> str | None:
    """Why this is not a sign-in user id, or None."""
    if not user_id or len(user_id) > MAX_USER_ID or names.check_channel_name(names.USER_CHANNEL_PREFIX + user_id):
        return f"user id must be 1..{MAX_USER_ID} characters of [-a-zA-Z0-9_=@,.;]"
    return None

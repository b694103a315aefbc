"""One Channels connection (protocol 7), sans I/O: text frames and time in, actions out.

Every rule that is about one connection lives here: parsing, ping/pong, what a subscribe, sign-in,
unsubscribe or client event must satisfy before anything shared is touched, the client-event rate limit,
and the four deadlines (activity ping, pong, sign-in, the signed-in session's end). The driver
(tidings.realtime) carries out the actions: it writes `Send`/`Close` to the socket and performs
`Join`/`Leave`/`SignInUser`/`Relay` against the shared state, then reports back with `joined`, `left` or
`signed_in`. The driver feeds one frame at a time and waits for that frame's actions to finish before
feeding the next.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from tidings.channels import messages, names, signin
from tidings.channels.apps import App
from tidings.channels.codes import Code
from tidings.channels.subscription import Grant, SignedIn, authorize, channel_of, check_channel_count
from tidings.errors import ProtocolError, SubscriptionError


@dataclass(frozen=True, slots=True)
class Send:
    payload: bytes  # one JSON message, not yet framed


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Join:
    """Subscribe: the grant passed every per-connection check; the roster and counts are shared state."""

    grant: Grant


@dataclass(frozen=True, slots=True)
class Leave:
    channel: str
    user_id: str | None  # the presence member id it was subscribed as


@dataclass(frozen=True, slots=True)
class SignInUser:
    result: signin.SignIn


@dataclass(frozen=True, slots=True)
class Relay:
    """A client event to pass on to the channel's other subscribers."""

    channel: str
    event: str
    data: str
    user_id: str | None  # presence channels: the sender's member id


Action = Send | Close | Join | Leave | SignInUser | Relay


@dataclass(frozen=True, slots=True)
class Timing:
    """Server-wide deadlines, shared by every session."""

    activity_timeout: float  # quiet for this long: the server pings
    pong_timeout: float  # no answer to the ping for this long: 4201
    user_authentication_timeout: float  # apps that require sign-in: 4009 when not signed in by then
    # Unix time, for a sign-in's `expires_at`; every other deadline runs on the monotonic `now` passed in.
    wall_clock: Callable[[], float] = field(default=time.time, compare=False)


class Session:
    __slots__ = (
        "_ce_count",
        "_ce_window",
        "app",
        "channels",
        "closing",
        "last_seen",
        "ping_sent_at",
        "session_deadline",
        "signing_in_at",
        "socket_id",
        "timing",
        "user",
        "user_deadline",
    )

    def __init__(self, app: App, socket_id: str, now: float, timing: Timing) -> None:
        self.app = app
        self.socket_id = socket_id
        self.timing = timing
        # channel name -> presence member id (None for other channels)
        self.channels: dict[str, str | None] = {}
        self.user: SignedIn | None = None
        self.user_deadline = now + timing.user_authentication_timeout if app.enable_user_authentication else None
        self.last_seen = now
        self.ping_sent_at: float | None = None
        self.session_deadline: float | None = None  # signed in: 4009 at this time (expires_at, max_session_seconds)
        self.signing_in_at: tuple[float, float] = (now, 0.0)  # (monotonic, Unix) of the last pusher:signin
        self._ce_window = 0.0
        self._ce_count = 0
        self.closing = False

    # -- input ---------------------------------------------------------------------------------

    def opened(self) -> list[Action]:
        return [Send(messages.connection_established(self.socket_id, int(self.timing.activity_timeout)))]

    def touch(self, now: float) -> None:
        """Anything received counts as activity (WebSocket pings too)."""
        self.last_seen = now
        self.ping_sent_at = None

    def receive_text(self, text: str | bytes, now: float) -> list[Action]:
        self.touch(now)
        if self.closing:
            return []
        try:
            return self._dispatch(messages.parse(text), now)
        except ProtocolError as exc:
            return self.refuse(exc)

    def receive_binary(self, now: float) -> list[Action]:
        self.touch(now)
        return [Send(messages.error(None, "Binary frames are not supported: send UTF-8 JSON text frames"))]

    def tick(self, now: float) -> list[Action]:
        """Time passed: sign-in deadline, then pong deadline, then ping a quiet connection."""
        if self.closing:
            return []
        if self.user_deadline is not None and now >= self.user_deadline:
            return self.fail(Code.UNAUTHORIZED, "Connection not authorized within timeout.")
        if self.session_deadline is not None and now >= self.session_deadline:
            return self.fail(Code.UNAUTHORIZED, "The signed-in session expired.")
        if self.ping_sent_at is not None:
            if now - self.ping_sent_at >= self.timing.pong_timeout:
                return self.fail(Code.PONG_NOT_RECEIVED, "Pong reply not received")
        elif now - self.last_seen >= self.timing.activity_timeout:
            self.ping_sent_at = now
            return [Send(messages.PING)]
        return []

    def refuse(self, exc: ProtocolError) -> list[Action]:
        """A refusal in the protocol's terms: a channel-scoped subscription_error, a pusher:error, or (codes
        4000-4299) a pusher:error and a close. Also for refusals that came from the shared state."""
        if isinstance(exc, SubscriptionError):
            return [Send(messages.subscription_error(exc.channel or "", exc.type, exc.message, exc.status))]
        if exc.closes and exc.code is not None:
            return self.fail(exc.code, exc.message, exc.channel)
        return [Send(messages.error(exc.code, exc.message, exc.channel))]

    def fail(self, code: int, message: str, channel: str | None = None) -> list[Action]:
        """`pusher:error` with the code, then a close with the same code: the one way a session ends."""
        if self.closing:
            return []
        self.closing = True
        return [Send(messages.error(code, message, channel)), Close(code, message)]

    def set_app(self, app: App) -> list[Action]:
        """The app changed in storage (secret rotated, switches, limits): later frames obey the new copy."""
        self.app = app
        if not app.enabled:
            return self.fail(Code.APP_DISABLED, "App is disabled")
        return []

    # -- results from the driver ---------------------------------------------------------------

    def joined(self, grant: Grant) -> None:
        self.channels[grant.channel] = grant.user_id
        if grant.type.requires_auth:
            self.user_deadline = None  # a private/presence subscription authorizes the connection

    def left(self, channel: str) -> str | None:
        return self.channels.pop(channel, None)

    def signed_in(self, result: signin.SignIn) -> None:
        self.user = SignedIn(result.user_id, result.user_info, result.watchlist)
        self.user_deadline = None
        # The session ends at the earlier of the backend's expires_at and the app's maximum age, counted from
        # this sign-in: pusher-js signs in again after a reconnect, and the backend decides whether it may.
        mono, wall = self.signing_in_at
        ends: list[float] = []
        if result.expires_at is not None:
            ends.append(mono + (result.expires_at - wall))
        if self.app.limits.max_session_seconds is not None:
            ends.append(mono + self.app.limits.max_session_seconds)
        self.session_deadline = min(ends) if ends else None

    def watchlist_replaced(self, watchlist: tuple[str, ...]) -> None:
        """The backend replaced the signed-in user's watchlist (the live-watchlist API)."""
        if self.user is not None:
            self.user = replace(self.user, watchlist=watchlist)

    # -- rules -----------------------------------------------------------------------------------

    def _dispatch(self, msg: messages.ClientMessage, now: float) -> list[Action]:
        event = msg.event
        if event == "pusher:ping":
            return [Send(messages.PONG)]
        if event == "pusher:pong":
            return []
        if event == "pusher:subscribe":
            return self._subscribe(msg.data)
        if event == "pusher:signin":
            return self._signin(msg.data, now)
        if event == "pusher:unsubscribe":
            name = channel_of(msg.data)
            return [Leave(name, self.channels[name])] if name in self.channels else []
        if event.startswith("client-"):
            return [self._client_event(msg, now)]
        raise ProtocolError(None, f"Unsupported event: {event[:100]}")

    def _subscribe(self, data: Any) -> list[Action]:
        if not isinstance(data, dict):
            raise ProtocolError(None, "Invalid subscription: 'data' must be an object")
        name = channel_of(data)
        if name not in self.channels:
            check_channel_count(name, len(self.channels), self.app.limits.max_channels_per_connection)
        return [Join(authorize(self.app, self.socket_id, data, self.user))]

    def _signin(self, data: Any, now: float) -> list[Action]:
        wall = self.timing.wall_clock()
        result = signin.verify(self.app, self.socket_id, data, wall)
        self.signing_in_at = (now, wall)
        if self.user is not None and self.user.id != result.user_id:
            raise ProtocolError(Code.UNAUTHORIZED, "Connection is already signed in as a different user")
        return [SignInUser(result)]

    def _client_event(self, msg: messages.ClientMessage, now: float) -> Relay:
        app = self.app
        channel = msg.channel
        code = Code.CLIENT_EVENT_REJECTED
        if not app.enable_client_events:
            raise ProtocolError(code, "Client events are not enabled for this app", channel=channel)
        if channel is None:
            raise ProtocolError(code, "Client event needs a channel")
        if not names.channel_type(channel).allows_client_events:
            raise ProtocolError(
                code, "Client events are only allowed on private and presence channels", channel=channel
            )
        if channel not in self.channels:
            raise ProtocolError(code, f"Not subscribed to channel {channel}", channel=channel)
        if len(msg.event) > app.limits.max_event_name_length:
            raise ProtocolError(
                code, f"Event name is longer than {app.limits.max_event_name_length} characters", channel=channel
            )
        self._rate_limit(channel, now)
        try:
            data = messages.encode_data(msg.data)
        except orjson.JSONEncodeError:  # nested deeper than the encoder allows (254 levels)
            raise ProtocolError(code, "Event data is nested too deeply", channel=channel) from None
        if len(data.encode()) > app.limits.max_event_data_bytes:
            raise ProtocolError(
                code, f"Event data is larger than {app.limits.max_event_data_bytes} bytes", channel=channel
            )
        return Relay(channel, msg.event, data, self.channels[channel])

    def _rate_limit(self, channel: str, now: float) -> None:
        limit = self.app.limits.client_events_per_second
        if limit <= 0:
            return
        if now - self._ce_window >= 1.0:
            self._ce_window, self._ce_count = now, 0
        self._ce_count += 1
        if self._ce_count > limit:
            raise ProtocolError(
                Code.CLIENT_EVENT_REJECTED, f"Client event rate limit reached: at most {limit} per second",
                channel=channel,
            )

"""Messages between nodes: one frozen dataclass per kind, and one encode/decode pair for the wire.

A message travels as a compact JSON array `[tag, origin node, sequence, *fields]`: the origin lets a node
skip its own messages and the sequence lets a receiver drop a message it has already seen (a publish that
is retried after a timeout may have reached Redis the first time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from tidings.errors import AdapterError


@dataclass(frozen=True, slots=True)
class Publish:
    """An HTTP-API event: one message for all its channels."""

    TAG: ClassVar[str] = "pub"
    app_id: str
    event: str
    channels: tuple[str, ...]
    data: str
    except_socket: str | None = None


@dataclass(frozen=True, slots=True)
class ClientEvent:
    TAG: ClassVar[str] = "cev"
    app_id: str
    channel: str
    event: str
    data: str
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class MemberAdded:
    """A user's first socket in a presence channel, cluster-wide."""

    TAG: ClassVar[str] = "madd"
    app_id: str
    channel: str
    user_id: str
    user_info: Any = None


@dataclass(frozen=True, slots=True)
class MemberRemoved:
    """A user's last socket in a presence channel left, cluster-wide."""

    TAG: ClassVar[str] = "mrem"
    app_id: str
    channel: str
    user_id: str


@dataclass(frozen=True, slots=True)
class Count:
    """A channel's subscription count changed (0: vacated, sent only by a dead node's cleaner)."""

    TAG: ClassVar[str] = "cnt"
    app_id: str
    channel: str
    count: int


@dataclass(frozen=True, slots=True)
class UserStatus:
    """A user's first connection signed in, or their last one closed, cluster-wide."""

    TAG: ClassVar[str] = "watch"
    app_id: str
    user_id: str
    online: bool


@dataclass(frozen=True, slots=True)
class Terminate:
    """Close every connection signed in as this user."""

    TAG: ClassVar[str] = "term"
    app_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class Watchlist:
    """The backend replaced a signed-in user's watchlist (the live-watchlist API): on every connection."""

    TAG: ClassVar[str] = "wl"
    app_id: str
    user_id: str
    watchlist: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PresenceCount:
    """A counts-only presence channel's member count changed: re-read it and tell the local subscribers."""

    TAG: ClassVar[str] = "pcnt"
    app_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class CloseConnections:
    """Close these connections of the user (any node's; per-user connection cap): code and reason given."""

    TAG: ClassVar[str] = "close"
    app_id: str
    user_id: str
    socket_ids: tuple[str, ...]
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Reset:
    """This node was declared dead and its share subtracted: drop every connection. Never sent to others."""

    TAG: ClassVar[str] = "reset"


BusMessage = (
    Publish | ClientEvent | MemberAdded | MemberRemoved | Count | UserStatus | Terminate | Watchlist | PresenceCount
    | CloseConnections | Reset
)

_KINDS: dict[str, type[BusMessage]] = {
    cls.TAG: cls for cls in (
        Publish, ClientEvent, MemberAdded, MemberRemoved, Count, UserStatus, Terminate, Watchlist, PresenceCount,
        CloseConnections, Reset,
    )
}
_TUPLES = frozenset({"channels", "watchlist", "socket_ids"})  # fields that travel as JSON arrays of strings


@dataclass(frozen=True, slots=True)
class Envelope:
    node: str
    seq: int
    message: BusMessage


class BadMessage(AdapterError, ValueError):
    """Bytes on the bus that are not a message of this version (logged and dropped by the adapter)."""


def encode(message: BusMessage, node: str, seq: int) -> bytes:
    values = [getattr(message, name) for name in message.__match_args__]
    return orjson.dumps([message.TAG, node, seq, *values])


def decode(body: bytes | str) -> Envelope:
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(f"not JSON: {exc.msg}") from None
    if not isinstance(raw, list) or len(raw) < 3:
        raise BadMessage("not a message array")
    tag, node, seq, *values = raw
    cls = _KINDS.get(tag) if isinstance(tag, str) else None
    if cls is None or not isinstance(node, str) or not isinstance(seq, int):
        raise BadMessage(f"unknown kind or envelope: {str(tag)[:20]!r}")
    if len(values) != len(cls.__match_args__):
        raise BadMessage(f"{cls.TAG}: expected {len(cls.__match_args__)} fields, got {len(values)}")
    values = [
        tuple(v) if name in _TUPLES and isinstance(v, list) else v
        for name, v in zip(cls.__match_args__, values, strict=True)
    ]
    message = cls(*values)
    _check(message)
    return Envelope(node, seq, message)


def _check(message: BusMessage) -> None:
    """Field types, so a handler never meets a number where it expects a string."""
    for name in message.__match_args__:
        value = getattr(message, name)
        if name == "user_info":
            continue
        if name in _TUPLES:
            ok = isinstance(value, tuple) and all(isinstance(c, str) for c in value)
        elif name in ("count", "code"):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif name == "online":
            ok = isinstance(value, bool)
        elif name in ("except_socket", "user_id") and value is None:
            ok = not (name == "user_id" and not isinstance(message, ClientEvent))
        else:
            ok = isinstance(value, str)
        if not ok:
            raise BadMessage(f"{message.TAG}: bad field {name}")

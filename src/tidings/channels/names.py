"""Channel, event and socket-id names: what kind a channel is and whether a name is acceptable.

The kind comes from the name's prefix only (docs/protocol/channels.md §2.4). Validation follows the SDKs
(pusher-http-python `validate_channel`): `[-a-zA-Z0-9_=@,.;]`, at most 200 characters by default,
`#` reserved except for the `#server-to-user-{id}` channels of user authentication.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

USER_CHANNEL_PREFIX = "#server-to-user-"

# The character class is ASCII by construction; fullmatch so a trailing "\n" never slips through `$`.
_NAME_CHARS = "[-a-zA-Z0-9_=@,.;]"
_CHANNEL_RE = re.compile(f"{_NAME_CHARS}+")
_SOCKET_ID_RE = re.compile(r"[0-9]+\.[0-9]+")  # not \d: it matches non-ASCII digits too
_SHOWN_NAME_CHARS = 60


class ChannelKind(enum.StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    PRESENCE = "presence"
    ENCRYPTED = "encrypted"
    USER = "user"


@dataclass(frozen=True, slots=True)
class ChannelType:
    kind: ChannelKind
    cache: bool

    @property
    def requires_auth(self) -> bool:
        return self.kind in (ChannelKind.PRIVATE, ChannelKind.PRESENCE, ChannelKind.ENCRYPTED)

    @property
    def is_presence(self) -> bool:
        return self.kind is ChannelKind.PRESENCE

    @property
    def allows_client_events(self) -> bool:
        # Encrypted channels are excluded: the server cannot see (or vouch for) their payloads,
        # and pusher-js refuses to send client events on them anyway.
        return self.kind in (ChannelKind.PRIVATE, ChannelKind.PRESENCE)


# Longest prefix first within each family: "private-encrypted-" must win over "private-".
_PREFIXES: tuple[tuple[str, ChannelType], ...] = (
    ("private-encrypted-cache-", ChannelType(ChannelKind.ENCRYPTED, cache=True)),
    ("private-encrypted-", ChannelType(ChannelKind.ENCRYPTED, cache=False)),
    ("private-cache-", ChannelType(ChannelKind.PRIVATE, cache=True)),
    ("private-", ChannelType(ChannelKind.PRIVATE, cache=False)),
    ("presence-cache-", ChannelType(ChannelKind.PRESENCE, cache=True)),
    ("presence-", ChannelType(ChannelKind.PRESENCE, cache=False)),
    (USER_CHANNEL_PREFIX, ChannelType(ChannelKind.USER, cache=False)),
    ("cache-", ChannelType(ChannelKind.PUBLIC, cache=True)),
)
_PUBLIC = ChannelType(ChannelKind.PUBLIC, cache=False)
_CACHEABLE_NAME_LENGTH = 256


def channel_type(name: str) -> ChannelType:
    """The kind of channel `name` is, from its prefix. Does not validate the name."""
    # Unvalidated names can be arbitrarily long; keep them out of the cache so it stays small.
    if len(name) > _CACHEABLE_NAME_LENGTH:
        return _channel_type(name)
    return _cached_channel_type(name)


def _channel_type(name: str) -> ChannelType:
    for prefix, kind in _PREFIXES:
        if name.startswith(prefix):
            return kind
    return _PUBLIC


# Called on every subscribe and every trigger; hot names are few.
_cached_channel_type = functools.lru_cache(maxsize=4096)(_channel_type)


def _shown(name: str) -> str:
    """`name` quoted for an error message, cut short so a huge name cannot bloat the reply."""
    if len(name) > _SHOWN_NAME_CHARS:
        name = name[:_SHOWN_NAME_CHARS] + "..."
    return repr(name)


def check_channel_name(name: object, max_length: int = 200) -> str | None:
    """None if `name` is an acceptable channel name, else a message saying what is wrong."""
    if not isinstance(name, str):
        return f"Channel name must be a string, not {type(name).__name__}"
    if not name:
        return "Channel name must not be empty"
    if len(name) > max_length:
        return f"Channel name {_shown(name)} is too long ({len(name)} characters, the limit is {max_length})"
    if name.startswith("#"):
        if name.startswith(USER_CHANNEL_PREFIX):
            if _CHANNEL_RE.fullmatch(name, len(USER_CHANNEL_PREFIX)):
                return None
            return (
                f"Invalid channel name {_shown(name)}: the user id after {USER_CHANNEL_PREFIX!r} "
                f"must be 1 or more of {_NAME_CHARS}"
            )
        return f"Invalid channel name {_shown(name)}: names starting with '#' are reserved"
    if _CHANNEL_RE.fullmatch(name):
        return None
    return f"Invalid channel name {_shown(name)}: only the characters {_NAME_CHARS} are allowed"


def check_event_name(name: object, max_length: int = 200) -> str | None:
    """None if `name` is an acceptable event name, else a message saying what is wrong."""
    if not isinstance(name, str):
        return f"Event name must be a string, not {type(name).__name__}"
    if not name:
        return "Event name must not be empty"
    if len(name) > max_length:
        return f"Event name {_shown(name)} is too long ({len(name)} characters, the limit is {max_length})"
    if not name.isascii() and not _is_unicode_text(name):
        return "Event name is not valid Unicode text"
    return None


def _is_unicode_text(text: str) -> bool:
    """False for a str holding a lone surrogate, which cannot be sent on (stdlib json can produce one)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def user_id_of_channel(name: str) -> str | None:
    """The user id of a `#server-to-user-{id}` channel; None for other channels (or an empty id)."""
    if name.startswith(USER_CHANNEL_PREFIX):
        return name[len(USER_CHANNEL_PREFIX) :] or None
    return None


def check_socket_id(value: object) -> bool:
    """True if `value` is a socket id of the form `<digits>.<digits>`."""
    return isinstance(value, str) and _SOCKET_ID_RE.fullmatch(value) is not None

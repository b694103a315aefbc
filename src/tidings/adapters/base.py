"""The adapter: what the nodes of a cluster must share about Channels state, behind one Protocol.

The hub keeps its own local indexes (channel -> local sockets, user -> local sockets, watchers) and asks the
adapter only what other nodes must know or may have changed:

- global subscription counts per channel (occupied / vacated, `subscription_count`, the HTTP API);
- presence rosters: how many sockets each user has in a channel, cluster-wide, and their user_info;
- signed-in users (online / offline for watchlists);
- the last event of cache channels;
- a bus: one message per trigger, client event or transition, delivered to every OTHER node.

Every read-modify-write answers whether it made a transition (first member socket, last one, 0 -> 1
subscribers), decided atomically, so exactly one node announces it and webhooks are not duplicated.

`LocalAdapter` (adapters/local.py) is the single-process implementation; `RedisAdapter` (adapters/redis.py)
shares the state through Redis. Both pass tests/adapters/ (one contract).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tidings.adapters.bus import BusMessage
from tidings.adapters.users import UserState
from tidings.errors import AdapterError

# A bus message (adapters/bus.py). The sink is called for every message from another node; `own` is True
# for messages this node's adapter produced itself on behalf of a dead node (the cleaner emits the webhooks).
Message = BusMessage
Sink = Callable[[BusMessage, bool], None]


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    user_info: Any
    limit: int  # the app's max_presence_members: a new user beyond it is refused
    # Counts-only presence (docs/users.md): the roster is returned only while the channel has at most this many
    # members (None: always); reading it for every join of a big channel would be quadratic.
    roster_up_to: int | None = None


@dataclass(frozen=True, slots=True)
class Joined:
    """The result of adding one socket to a channel."""

    count: int  # subscriptions to the channel across the cluster, this one included
    first_member: bool = False  # presence: this socket is the user's first in the channel, cluster-wide
    full: bool = False  # presence: refused, the roster is at its limit (nothing was changed)
    members: dict[str, Any] = field(default_factory=dict)  # presence: user id -> user_info, after the join
    cached: Cached | None = None  # cache channels: the last event, if it has not expired
    member_count: int = 0  # presence: distinct members after the join (with or without the roster)


@dataclass(frozen=True, slots=True)
class Left:
    count: int  # subscriptions left across the cluster
    last_member: bool = False  # presence: that was the user's last socket in the channel, cluster-wide
    vacated: bool = False  # this leave took the channel's last subscription (not: a dead node's cleaner did)
    member_count: int = 0  # presence: distinct members after the leave


@dataclass(frozen=True, slots=True)
class Cached:
    event: str
    data: str
    ttl: float  # seconds left


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    subscription_count: int
    user_count: int


class AdapterUnavailable(AdapterError):
    """The shared backend could not be reached or did not answer in time (the cause is chained). Every
    method that talks to the backend raises this, never the backend's own errors; the HTTP API answers 503."""


class Adapter(UserState, Protocol):
    node_id: str
    shared: bool  # False: one process, nothing leaves it (the bus is a no-op)

    async def start(self, sink: Sink) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    def broadcast(self, message: Message) -> None:
        """Send to every other node, in order, without waiting. Once it returns, the message reaches every
        node (once, in order) as soon as the backend answers again, if it does not now. Raises
        AdapterUnavailable, having queued nothing, when that can no longer be promised (Redis: its buffer of
        unsent messages is full); the caller must then not deliver the message locally either."""
        ...

    async def join(self, app_id: str, channel: str, member: Member | None, cache: bool) -> Joined:
        """One socket subscribed. `member` for presence channels; `cache` asks for the cached event."""
        ...

    async def leave(self, app_id: str, channel: str, user_id: str | None) -> Left: ...

    async def members(self, app_id: str, channel: str) -> dict[str, Any]: ...

    async def channels(self, app_id: str) -> dict[str, int]:
        """Occupied channels and their subscription counts, across the cluster."""
        ...

    async def channel(self, app_id: str, channel: str) -> ChannelInfo: ...

    async def subscribed(self, app_id: str, channels: Sequence[str]) -> set[str]:
        """Which of these channels have at least one subscription anywhere in the cluster (one round trip:
        Beams routing asks it for a page of `#server-to-user-` channels at once)."""
        ...

    async def sign_in(self, app_id: str, user_id: str, watchlist: tuple[str, ...]) -> tuple[bool, set[str]]:
        """One connection signed in: (the user's first connection cluster-wide, which watched users are online)."""
        ...

    async def online(self, app_id: str, user_ids: tuple[str, ...]) -> set[str]:
        """Which of these users have a signed-in connection anywhere."""
        ...

    async def sign_out(self, app_id: str, user_id: str) -> bool:
        """One signed-in connection closed: True when it was the user's last one cluster-wide."""
        ...

    async def set_cached(self, app_id: str, channel: str, event: str, data: str) -> None: ...

    async def cached(self, app_id: str, channel: str) -> Cached | None: ...

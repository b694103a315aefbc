"""Which records a console view wants: the query parameters of the stream (`user`, `channel`, `event`, `kind`).

    Filter.parse({"channel": "presence-", "kind": "client_event_sent,event_triggered"}).matches(record)

- `user`: the record concerns this user (its `user_id`, or `users`);
- `channel`: a prefix of the record's `channel`, or of one of its `channels`;
- `event`: the event name, exactly (`event` field);
- `kind`: one kind or several, comma-separated.

An empty or absent parameter does not filter. Gap markers always pass: a reader must know it missed something.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tidings.console.records import Record, record_users
from tidings.errors import BadRequest

MAX_PARAMETER = 200


@dataclass(frozen=True, slots=True)
class Filter:
    user: str | None = None
    channel: str | None = None
    event: str | None = None
    kinds: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Filter:
        values = {}
        for name in ("user", "channel", "event", "kind"):
            value = query.get(name, "").strip()
            if len(value) > MAX_PARAMETER:
                raise BadRequest(f"{name} is longer than {MAX_PARAMETER} characters")
            values[name] = value or None
        kinds = frozenset(k.strip() for k in (values["kind"] or "").split(",") if k.strip())
        return cls(values["user"], values["channel"], values["event"], kinds)

    @property
    def empty(self) -> bool:
        return self.user is None and self.channel is None and self.event is None and not self.kinds

    def matches(self, record: Record) -> bool:
        if record.get("kind") == "gap":
            return True
        if self.kinds and record.get("kind") not in self.kinds:
            return False
        if self.event is not None and record.get("event") != self.event:
            return False
        if self.channel is not None:
            channel = record.get("channel")
            channels = record.get("channels")
            names = [channel] if isinstance(channel, str) else []
            if isinstance(channels, list):
                names.extend(c for c in channels if isinstance(c, str))
            if not any(name.startswith(self.channel) for name in names):
                return False
        return self.user is None or self.user in record_users(record)

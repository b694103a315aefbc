"""Events as the console shows them: one JSON object per event, built generically from the event's dataclass.

    {"kind": "event_triggered", "time": "2025-01-02T03:04:05.678Z", "at": 1735787045.678, "product": "channels",
     "node": "host-123-ab12cd", "app_id": "1", "event": "my-event", "channels": ["news"], "data": "{...}",
     "users": ["alice"]}

`kind` is the class name in snake case (`EventTriggered` -> `event_triggered`), or the class's `console_kind`
when it declares one; every other key is a field of the event, so kinds added to the stream later appear without
changes here. A field that would hide a key of the envelope gets a suffix (`BeamsPublishAccepted.kind` is shown as
`kind_`). `users` lists whom the event concerns beyond `user_id`: the user of a `#server-to-user-` channel, the
user ids a Beams publish targeted. Fields named like credentials are never shown; long strings are cut.
This module is pure: no I/O, no clock but the event's own time.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tidings.events import Event

Record = dict[str, Any]

USER_CHANNEL_PREFIX = "#server-to-user-"
MAX_STRING = 16 * 1024  # characters of one field shown; beyond, cut with a note (Beams payloads reach 200 KiB)
MAX_ITEMS = 1000  # items of a list field (a publish to 1000 users)
ENVELOPE = frozenset({"kind", "time", "at", "product", "node", "users"})
# Never shown, whatever the event: a field named like a credential (an app secret, a push token, a gateway key).
_SECRET = re.compile(r"secret|token|password|credential|private|signature", re.IGNORECASE)
# Per-node counters, emitted on the fan-out path: shown in the stream, never a timeline entry (the event they
# count, EventTriggered, is one already).
COUNTERS = frozenset({"published", "subscription_count_changed"})


@dataclass(frozen=True, slots=True)
class Spec:
    """What the renderer needs to know of one event class, worked out once."""

    kind: str
    fields: tuple[tuple[str, str], ...]  # (attribute, key shown)
    timeline: bool  # may concern a user


_SPECS: dict[type[Event], Spec] = {}


def kind_of(cls: type[Event]) -> str:
    declared = getattr(cls, "console_kind", None)
    if isinstance(declared, str):
        return declared
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def spec(cls: type[Event]) -> Spec:
    found = _SPECS.get(cls)
    if found is None:
        shown = []
        for f in dataclasses.fields(cls):
            if f.name == "at" or _SECRET.search(f.name):
                continue
            shown.append((f.name, f"{f.name}_" if f.name in ENVELOPE else f.name))
        kind = kind_of(cls)
        found = _SPECS[cls] = Spec(kind, tuple(shown), kind not in COUNTERS)
    return found


def users_of(event: Event) -> list[str]:
    """Every user the event concerns: its user id, a `#server-to-user-` channel's user, a publish's user ids."""
    out: list[str] = []
    uid = event.user_id
    if uid is not None:
        out.append(uid)
    channel = getattr(event, "channel", None)
    if isinstance(channel, str) and channel.startswith(USER_CHANNEL_PREFIX):
        out.append(channel[len(USER_CHANNEL_PREFIX):])
    channels = getattr(event, "channels", None)
    if isinstance(channels, tuple):
        out.extend(c[len(USER_CHANNEL_PREFIX):] for c in channels if c.startswith(USER_CHANNEL_PREFIX))
    if getattr(event, "kind", None) == "users":  # a Beams publish to users: its targets are user ids
        targets = getattr(event, "target_ids", ())
        if isinstance(targets, tuple):
            out.extend(t for t in targets[:MAX_ITEMS] if isinstance(t, str))
    return list(dict.fromkeys(out)) if len(out) > 1 else out


def render(event: Event, node: str) -> Record:
    s = spec(type(event))
    record: Record = {
        "kind": s.kind, "time": iso_time(event.at), "at": round(event.at, 6), "product": event.product, "node": node,
    }
    for name, key in s.fields:
        record[key] = _value(getattr(event, name))
    users = users_of(event)
    if event.user_id is not None and "user_id" not in record:
        record["user_id"] = event.user_id  # a user named by a property rather than a field
    extra = [u for u in users if u != event.user_id]
    if extra:
        record["users"] = extra
    return record


def record_users(record: Record) -> list[str]:
    """`users_of` for a record (one received from another node)."""
    out = []
    uid = record.get("user_id")
    if isinstance(uid, str):
        out.append(uid)
    extra = record.get("users")
    if isinstance(extra, list):
        out.extend(u for u in extra if isinstance(u, str))
    return out


def record_scope(record: Record) -> str | None:
    scope = record.get("app_id") if record.get("product") == "channels" else record.get("instance_id")
    return scope if isinstance(scope, str) else None


def gap(missed: int, at: float) -> Record:
    """What a view sends in place of events it had no room for (a slow reader): how many it lost."""
    return {"kind": "gap", "time": iso_time(at), "at": round(at, 6), "missed": missed}


def iso_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _value(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING else f"{value[:MAX_STRING]}... ({len(value)} characters, cut)"
    if depth > 8:
        return "..."
    if isinstance(value, tuple | list | set | frozenset):
        items = list(value)
        shown = [_value(v, depth + 1) for v in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            shown.append(f"... ({len(items)} items, cut)")
        return shown
    if isinstance(value, dict):
        return {
            str(k): ("***" if _SECRET.search(str(k)) else _value(v, depth + 1))
            for k, v in list(value.items())[:MAX_ITEMS]
        }
    return _value(str(value), depth)

"""What this node does with a message from another node (the adapter's bus, see adapters/base.py).

Kinds: `pub` (an HTTP trigger: one message for all its channels), `cev` (a client event), `madd`/`mrem`
(presence transitions), `cnt` (a subscription count), `watch` (a user online/offline), `term` (terminate a
user's connections), `reset` (this node was declared dead: drop every connection).
`own` is True when this node's adapter made the message itself while cleaning up a dead node: then this
node, and only it, emits the matching internal events (webhooks).
"""

from __future__ import annotations

from typing import Any

from tidings.channels import messages, names
from tidings.channels.codes import Code
from tidings.realtime import events as ev
from tidings.realtime.frames import text_frame
from tidings.realtime.hub import Hub
from tidings.realtime.joining import Held


def on_message(hub: Hub, m: dict[str, Any], own: bool) -> None:
    kind = m.get("t")
    if kind == "reset":
        _reset(hub)
        return
    app_id = str(m.get("a"))
    if kind == "pub":
        if app_id in hub.apps:
            hub.deliver(app_id, m["e"], m["c"], m["d"], m.get("x"))
        return
    if kind == "term":
        hub.terminate_local(app_id, m["u"])
        return
    if kind == "watch":
        hub.notify_watchers(app_id, m["u"], m["s"])
        if own:
            hub.stream.emit((ev.UserOnline if m["s"] == "online" else ev.UserOffline)(app_id, m["u"]))
        return
    name = str(m.get("c"))
    chan = hub.channel(app_id, name)
    if kind == "cev":
        hub.to_channel(app_id, name, chan, Held(text_frame(messages.event(m["e"], name, m["d"], m.get("u")))))
    elif kind == "madd":
        frame = text_frame(messages.member_added(name, m["u"], m.get("i")))
        hub.to_channel(app_id, name, chan, Held(frame, added=m["u"]))
    elif kind == "mrem":
        hub.to_channel(app_id, name, chan, Held(text_frame(messages.member_removed(name, m["u"])), removed=m["u"]))
        if own:
            hub.stream.emit(ev.MemberRemoved(app_id, name, m["u"]))
    elif kind == "cnt":
        count = int(m["k"])
        if own and count == 0 and names.channel_type(name).kind is not names.ChannelKind.USER:
            hub.stream.emit(ev.ChannelVacated(app_id, name))
        if chan is not None and count > 0 and _counts_enabled(chan):
            hub.count_learned(app_id, chan, count, mine=own)


def _counts_enabled(chan: Any) -> bool:
    ctype = chan.type
    if ctype.is_presence or ctype.kind is names.ChannelKind.USER:
        return False
    conn = next(iter(chan.subscribers.values()), None)
    return conn is not None and bool(conn.app.enable_subscription_count)


def _reset(hub: Hub) -> None:
    message = "Server state was reset, reconnect"
    for conn in list(hub.all_connections()):
        conn.send_error(Code.GENERIC_RECONNECT, message)
        conn.close(Code.GENERIC_RECONNECT, message)

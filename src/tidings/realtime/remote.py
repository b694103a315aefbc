"""What this node does with a message from another node (the adapter's bus, see adapters/bus.py).

`own` is True when this node's adapter made the message itself while cleaning up a dead node: then this
node, and only it, emits the matching internal events (webhooks).
"""

from __future__ import annotations

from tidings.adapters import bus
from tidings.channels import messages, names
from tidings.channels.codes import Code
from tidings.realtime import events as ev
from tidings.realtime.frames import text_frame
from tidings.realtime.hub import Hub
from tidings.realtime.index import Channel
from tidings.realtime.joining import Held


def on_message(hub: Hub, m: bus.BusMessage, own: bool) -> None:
    match m:
        case bus.Reset():
            _reset(hub)
        case bus.Publish(app_id, event, channels, data, except_socket):
            if app_id in hub.index.apps:
                hub.deliver(app_id, event, channels, data, except_socket)
        case bus.Terminate(app_id, user_id):
            hub.users.terminate_local(app_id, user_id)
        case bus.Watchlist(app_id, user_id, watchlist):
            hub.users.spawn(hub.users.apply_watchlist(app_id, user_id, watchlist))
        case bus.CloseConnections(app_id, _user_id, socket_ids, code, reason):
            hub.users.guards.close_local(app_id, socket_ids, code, reason)
        case bus.PresenceCount(app_id, name):
            hub.presence_counts.changed(app_id, name)
        case bus.UserStatus(app_id, user_id, online):
            hub.users.notify_watchers(app_id, user_id, online=online)
            if own:
                hub.stream.emit((ev.UserOnline if online else ev.UserOffline)(app_id, user_id))
        case bus.ClientEvent(app_id, name, event, data, user_id):
            frame = text_frame(messages.event(event, name, data, user_id))
            hub.fanout.to_channel(app_id, name, Held(frame))
        case bus.MemberAdded(app_id, name, user_id, user_info):
            frame = text_frame(messages.member_added(name, user_id, user_info))
            hub.fanout.to_channel(app_id, name, Held(frame, added=user_id))
        case bus.MemberRemoved(app_id, name, user_id):
            frame = text_frame(messages.member_removed(name, user_id))
            hub.fanout.to_channel(app_id, name, Held(frame, removed=user_id))
            if own:
                hub.stream.emit(ev.MemberRemoved(app_id, name, user_id))
        case bus.Count(app_id, name, count):
            if own and count == 0 and names.channel_type(name).kind is not names.ChannelKind.USER:
                hub.stream.emit(ev.ChannelVacated(app_id, name))
            chan = hub.channel(app_id, name)
            if chan is not None and count > 0 and _counts_enabled(chan):
                hub.counts.learned(app_id, chan, count, mine=own)


def _counts_enabled(chan: Channel) -> bool:
    ctype = chan.type
    if ctype.is_presence or ctype.kind is names.ChannelKind.USER:
        return False
    conn = next(iter(chan.subscribers.values()), None)
    return conn is not None and bool(conn.app.enable_subscription_count)


def _reset(hub: Hub) -> None:
    message = "Server state was reset, reconnect"
    for conn in list(hub.all_connections()):
        conn.fail(Code.GENERIC_RECONNECT, message)

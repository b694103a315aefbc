"""Writing one message to many connections: frame once, write the same bytes to each transport.

`write_all` is the hot path. It does inline what `Connection.write` does (a dead transport or a full buffer
cuts that connection, never the loop), without a method call per subscriber.
"""

from __future__ import annotations

from collections.abc import Iterable

from tidings.channels import messages, names
from tidings.realtime import events as ev
from tidings.realtime.connection import SLOW_CONSUMER, Connection
from tidings.realtime.frames import text_frame
from tidings.realtime.index import Channel, Index
from tidings.realtime.joining import Held, Joining


def write_all(conns: Iterable[Connection], frame: bytes, except_socket: str | None = None) -> int:
    cut: list[tuple[Connection, str]] | None = None
    n = 0
    for conn in conns:
        if conn.closing or conn.socket_id == except_socket:
            continue
        t = conn.transport
        try:
            t.write(frame)
            over = t.get_write_buffer_size() > conn.write_limit
        except Exception:  # zero-cost unless raised: a transport reset under us
            over = None
        if over is not False:
            if cut is None:
                cut = []
            cut.append((conn, SLOW_CONSUMER if over else "write failed"))
            continue
        n += 1
    if cut:
        for conn, reason in cut:
            conn.abort(reason)
    return n


class Fanout:
    __slots__ = ("index", "joining", "stream")

    def __init__(self, index: Index, joining: Joining, stream: ev.EventStream) -> None:
        self.index = index
        self.joining = joining
        self.stream = stream

    def deliver(self, app_id: str, event: str, channels: Iterable[str], data: str, except_socket: str | None) -> int:
        """An event to this node's subscribers of each channel; returns the number of deliveries."""
        st = self.index.apps.get(app_id)
        total = 0
        for name in channels:
            frame = text_frame(messages.event(event, name, data))
            n = 0
            if names.channel_type(name).kind is names.ChannelKind.USER:
                # To every signed-in connection of the user, subscribed to its user channel or not.
                user_id = names.user_id_of_channel(name)
                conns = st.users.get(user_id) if st is not None and user_id is not None else None
                if conns and self.joining:
                    joining = self.joining.hold_back(app_id, name, Held(frame), except_socket)
                    if joining:
                        conns = {sid: c for sid, c in conns.items() if sid not in joining}
                n = write_all(conns.values(), frame, except_socket) if conns else 0
            else:
                chan = st.channels.get(name) if st is not None else None
                n = write_all(chan.subscribers.values(), frame, except_socket) if chan else 0
                if self.joining:
                    self.joining.hold(app_id, name, Held(frame))
            total += n
            self.stream.emit(ev.Published(app_id, name, event, n))
        return total

    def to_channel(self, app_id: str, name: str, item: Held, skip: Connection | None = None) -> None:
        """A member event or client event: to the local subscribers, and held for those still joining."""
        chan = self.index.channel(app_id, name)
        if chan is not None:
            write_all(chan.subscribers.values(), item.frame, skip.socket_id if skip is not None else None)
        if self.joining:
            self.joining.hold(app_id, name, item)

    def to_subscribers(self, chan: Channel, frame: bytes) -> None:
        write_all(chan.subscribers.values(), frame)

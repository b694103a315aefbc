"""A hub's connections without sockets: a fake transport that records frames, and a driver loop.

`feed` does what web/wsconn.py does with one text frame: the session decides, the hub performs.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from tidings.channels import protocol as p
from tidings.channels.apps import App
from tidings.realtime.connection import Connection
from tidings.realtime.hub import Hub

TIMING = p.Timing(activity_timeout=120.0, pong_timeout=30.0, user_authentication_timeout=30.0)


class Transport:
    """Collects the frames written to one client; `dead` makes writes raise, as a reset uvloop transport does."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.buffered = 0
        self.dead = False
        self.aborted = False
        self.closed = False

    def write(self, frame: bytes) -> None:
        if self.dead:
            raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")
        n = frame[1] & 0x7F
        self.frames.append(orjson.loads(frame[2 + {126: 2, 127: 8}.get(n, 0) :]))

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.closed = True

    def events(self) -> list[str]:
        return [f["event"] for f in self.frames]


def connect(hub: Hub, app: App, *, write_limit: int = 1 << 20) -> tuple[Connection, Transport]:
    transport = Transport()
    session = p.Session(app, hub.new_socket_id(app.id), time.monotonic(), TIMING)
    conn = Connection(session, transport, write_limit=write_limit)
    hub.add(conn)
    conn.apply(session.opened())
    return conn, transport


async def feed(hub: Hub, conn: Connection, message: dict[str, Any]) -> None:
    for action in conn.session.receive_text(orjson.dumps(message), time.monotonic()):
        if isinstance(action, p.Send | p.Close):
            conn.apply([action])
        else:
            await hub.perform(conn, action)

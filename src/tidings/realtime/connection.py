"""One client connection as the runtime sees it: its protocol session, and the one write path to it.

Every frame to a client goes through `write` (or the fan-out loop, which does the same inline): it never
raises, and a connection whose unsent output passes `write_limit` is cut, whatever the frame was. A write
to a transport that died marks the connection dead; its removal is then driven by the transport's
`connection_lost`, never by the writer, so a fan-out loop cannot be interrupted by one dead socket.

The socket side (WebSocket framing, handshake, close handshake) is the driver's: a subclass implements
`_close_socket` and `_abort_socket` (web/wsconn.py).
"""

from __future__ import annotations

from typing import Any

from tidings.channels import protocol as p
from tidings.channels.apps import App
from tidings.channels.protocol import Session
from tidings.channels.subscription import SignedIn
from tidings.realtime.frames import text_frame

SLOW_CONSUMER = "slow consumer"


class Connection:
    __slots__ = ("app_id", "close_code", "closing", "cut_reason", "session", "socket_id", "transport", "write_limit")

    def __init__(self, session: Session, transport: Any, *, write_limit: int) -> None:
        self.session = session
        self.app_id = session.app.id
        self.socket_id = session.socket_id
        self.transport = transport
        self.write_limit = write_limit
        self.closing = False  # no more frames are written (a close was started, or the socket died)
        self.cut_reason: str | None = None
        self.close_code: int | None = None  # the close code sent, else received (for the console)

    def __repr__(self) -> str:
        return f"<Connection {self.app_id}/{self.socket_id}>"

    # Shorthands for the session's state, which the hub reads.
    @property
    def app(self) -> App:
        return self.session.app

    @property
    def channels(self) -> dict[str, str | None]:
        return self.session.channels

    @property
    def user(self) -> SignedIn | None:
        return self.session.user

    # -- the write path --------------------------------------------------------------------------

    def send(self, payload: bytes) -> bool:
        return self.write(text_frame(payload))

    def write(self, frame: bytes) -> bool:
        """Write one framed message. Never raises; False when it was not written or the client was cut."""
        if self.closing:
            return False
        t = self.transport
        try:
            t.write(frame)
            over = t.get_write_buffer_size() > self.write_limit
        except Exception:  # a transport reset under us: connection_lost follows and removes it
            self.abort("write failed")
            return False
        if over:
            self.abort(SLOW_CONSUMER)
            return False
        return True

    def fail(self, code: int, message: str) -> None:
        """`pusher:error` with the code, then a close with it."""
        if not self.closing:
            self.apply(self.session.fail(code, message))

    def close(self, code: int, reason: str) -> None:
        """Start a clean close (a close frame with the code); safe to call more than once."""
        if self.closing:
            return
        self.closing = True
        self.session.closing = True
        self.close_code = code
        try:
            self._close_socket(code, reason)
        except Exception:
            self.abort("close failed")

    def abort(self, reason: str) -> None:
        """Drop the TCP connection at once (a slow consumer, whose buffer is already full, or a dead one)."""
        self.closing = True
        self.session.closing = True
        if self.cut_reason is None:
            self.cut_reason = reason
        try:
            self._abort_socket()
        except Exception:
            pass

    def apply(self, actions: list[p.Action]) -> None:
        """A session's output-only actions (connect, tick, app changes)."""
        for action in actions:
            if isinstance(action, p.Send):
                self.send(action.payload)
            elif isinstance(action, p.Close):
                self.close(action.code, action.reason)

    def tick(self, now: float) -> None:
        if not self.closing:
            self.apply(self.session.tick(now))

    def set_app(self, app: App) -> None:
        self.apply(self.session.set_app(app))

    # -- the socket side (overridden by the driver) ----------------------------------------------

    def _close_socket(self, code: int, reason: str) -> None:
        self.transport.close()

    def _abort_socket(self) -> None:
        self.transport.abort()

"""One client connection as the hub sees it: a transport to write frames to, and its protocol state.

The web layer owns the socket (handshake, reading); this object owns what the protocol needs to know.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from tidings.channels import messages
from tidings.channels.apps import App
from tidings.channels.subscription import SignedIn
from tidings.realtime.frames import text_frame

Closer = Callable[[int, str], Coroutine[Any, Any, None]]


class Connection:
    __slots__ = (
        "_close_task",
        "_closer",
        "app",
        "ce_count",
        "ce_window",
        "channels",
        "closing",
        "last_seen",
        "ping_sent_at",
        "socket_id",
        "transport",
        "user",
        "user_deadline",
        "write_limit",
    )

    def __init__(
        self, socket_id: str, app: App, transport: Any, closer: Closer, *, write_limit: int
    ) -> None:
        self.socket_id = socket_id
        self.app = app
        self.transport = transport
        self._closer = closer
        self._close_task: asyncio.Task[None] | None = None
        self.write_limit = write_limit
        # channel name -> presence user id (None for non-presence channels)
        self.channels: dict[str, str | None] = {}
        self.user: SignedIn | None = None
        self.user_deadline: float | None = None
        self.last_seen = time.monotonic()
        self.ping_sent_at: float | None = None
        self.ce_window = 0.0
        self.ce_count = 0
        self.closing = False

    def __repr__(self) -> str:
        return f"<Connection {self.app.id}/{self.socket_id}>"

    def send(self, payload: bytes) -> bool:
        """Frame and write one message. False when the client is too slow to keep up (caller cuts it)."""
        if self.closing:
            return True
        t = self.transport
        t.write(text_frame(payload))
        return bool(t.get_write_buffer_size() <= self.write_limit)

    def send_error(self, code: int | None, message: str, channel: str | None = None) -> None:
        self.send(messages.error(code, message, channel))

    def touch(self) -> None:
        self.last_seen = time.monotonic()
        self.ping_sent_at = None

    def close(self, code: int, reason: str) -> None:
        """Start a clean close (close frame with code); safe to call more than once."""
        if self.closing:
            return
        self.closing = True
        self._close_task = asyncio.get_running_loop().create_task(self._closer(code, reason))

    def abort(self) -> None:
        """Drop the TCP connection at once: used for slow consumers, whose buffer is already full."""
        self.closing = True
        self.transport.abort()

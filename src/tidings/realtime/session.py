"""What a connection's incoming text frames do: parse, dispatch to the hub, answer errors.

Errors are answered here in one place: a refused subscription as the channel-scoped
`pusher:subscription_error`, anything else as `pusher:error`, followed by a close when the code says so.
"""

from __future__ import annotations

import logging

from tidings.channels import messages
from tidings.errors import ProtocolError, SubscriptionError
from tidings.realtime.connection import Connection
from tidings.realtime.hub import Hub

log = logging.getLogger("tidings.realtime")


async def receive_text(hub: Hub, conn: Connection, text: str) -> None:
    """Handle one frame. Awaited by the read loop, so a connection's frames are handled one after the other
    (a subscribe that waits for Redis is done before the client's next frame is looked at)."""
    conn.touch()
    try:
        msg = messages.parse(text)
        event = msg.event
        if event == "pusher:ping":
            conn.send(messages.PONG)
        elif event == "pusher:pong":
            pass
        elif event == "pusher:subscribe":
            await hub.subscribe(conn, msg.data)
        elif event == "pusher:signin":
            await hub.signin(conn, msg.data)
        elif event == "pusher:unsubscribe":
            await hub.unsubscribe(conn, msg.data)
        elif event.startswith("client-"):
            hub.client_event(conn, msg)
        else:
            raise ProtocolError(None, f"Unsupported event: {event[:100]}")
    except SubscriptionError as exc:
        conn.send(messages.subscription_error(exc.channel or "", exc.type, exc.message, exc.status))
    except ProtocolError as exc:
        conn.send_error(exc.code, exc.message, exc.channel)
        if exc.closes and exc.code is not None:
            conn.close(exc.code, exc.message)


def receive_binary(conn: Connection) -> None:
    conn.touch()
    conn.send_error(None, "Binary frames are not supported: send UTF-8 JSON text frames")

"""Server-side liveness: ping quiet clients, close with 4201 those that do not answer.

One task scans every connection every second or so, instead of one timer per connection.
It also enforces the per-app "sign in within N seconds" rule (4009).
"""

from __future__ import annotations

import asyncio
import time

from tidings.channels import messages
from tidings.channels.codes import Code
from tidings.realtime.hub import Hub


def check(hub: Hub, now: float, activity_timeout: float, pong_timeout: float) -> None:
    for conn in hub.all_connections():
        if conn.closing:
            continue
        if conn.user_deadline is not None and now >= conn.user_deadline:
            message = "Connection not authorized within timeout."
            conn.send_error(Code.UNAUTHORIZED, message)
            conn.close(Code.UNAUTHORIZED, message)
        elif conn.ping_sent_at is not None:
            if now - conn.ping_sent_at >= pong_timeout:
                message = "Pong reply not received"
                conn.send_error(Code.PONG_NOT_RECEIVED, message)
                conn.close(Code.PONG_NOT_RECEIVED, message)
        elif now - conn.last_seen >= activity_timeout:
            conn.ping_sent_at = now
            conn.send(messages.PING)


async def run(hub: Hub, activity_timeout: float, pong_timeout: float) -> None:
    interval = max(0.05, min(1.0, activity_timeout / 4, pong_timeout / 4))
    while True:
        await asyncio.sleep(interval)
        check(hub, time.monotonic(), activity_timeout, pong_timeout)

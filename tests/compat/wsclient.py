"""A minimal blocking Pusher-protocol WebSocket client (websockets' sync client) used as a subscriber
in the Python SDK tests. Private/presence auth strings come from the official `pusher` Python SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import pusher
from websockets.sync.client import ClientConnection, connect

from tests.support.server import RunningServer


class WsClient:
    def __init__(self, server: RunningServer, timeout: float = 30) -> None:
        self.timeout = timeout
        # Entering the context is how websockets >= 17.1 wants a direct connection (close() ends it).
        self.ws: ClientConnection = connect(server.ws_url(), open_timeout=timeout, close_timeout=2).__enter__()
        self.received: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []
        established = self.expect("pusher:connection_established")
        self.socket_id: str = json.loads(established["data"])["socket_id"]

    def send(self, event: str, data: Any, channel: str | None = None) -> None:
        frame: dict[str, Any] = {"event": event, "data": data}
        if channel is not None:
            frame["channel"] = channel
        self.ws.send(json.dumps(frame))

    def _recv(self, timeout: float) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        self.received.append(frame)
        return frame

    def expect(self, event: str, channel: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        """Return the next frame with this event (and channel); other frames are kept for later."""
        for i, frame in enumerate(self._pending):
            if frame.get("event") == event and channel in (None, frame.get("channel")):
                return self._pending.pop(i)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {event!r} frame on {channel!r}; received so far: {self.received}")
            try:
                frame = self._recv(remaining)
            except TimeoutError:
                continue
            if frame.get("event") == event and channel in (None, frame.get("channel")):
                return frame
            self._pending.append(frame)

    def drain(self, wait: float = 0.3) -> list[dict[str, Any]]:
        """Everything that arrives within `wait` seconds, plus frames already kept."""
        frames, self._pending = self._pending, []
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frames.append(self._recv(remaining))
            except TimeoutError:
                break
        return frames

    def subscribe(
        self, channel: str, sdk: pusher.Pusher | None = None, user: str | None = None
    ) -> dict[str, Any]:
        """Subscribe (signing private/presence channels with the SDK) and return subscription_succeeded."""
        data: dict[str, Any] = {"channel": channel}
        if channel.startswith(("private-", "presence-")):
            assert sdk is not None
            custom = {"user_id": user, "user_info": {"name": user}} if channel.startswith("presence-") else None
            data.update(sdk.authenticate(channel=channel, socket_id=self.socket_id, custom_data=custom))
        self.send("pusher:subscribe", data)
        return self.expect("pusher_internal:subscription_succeeded", channel)

    def unsubscribe(self, channel: str) -> None:
        self.send("pusher:unsubscribe", {"channel": channel})

    def close(self) -> None:
        self.ws.close()

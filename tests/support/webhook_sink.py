"""A local webhook receiver for the Channels webhook tests, in a thread.

Every POST is recorded with its raw body and headers, exactly as received, and answered 200 (with an
empty JSON object) unless `fail_next(n)` asked for the next n requests to get `status` (500) instead.

    with WebhookSink() as sink:
        ...add sink.url as a webhook of the app...
        sink.wait_for(lambda s: len(s.events(name="channel_occupied")) >= 1, timeout=5)

Every wait has a timeout and fails with what was received so far.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.http_service import HttpService


@dataclass
class Delivery:
    """One webhook request as received."""

    path: str
    headers: list[tuple[str, str]]  # as sent, names with their original case, repeated headers kept
    body: bytes
    received_at: float  # time.monotonic()
    answered: int

    def header(self, name: str) -> str | None:
        """The value of a header (case-insensitive name); fails if it was sent more than once."""
        found = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(found) <= 1, f"header {name} sent {len(found)} times: {self.headers}"
        return found[0] if found else None

    @property
    def lower_headers(self) -> dict[str, str]:
        """Headers with lower-case names, the form the Node SDK's `pusher.webhook()` wants."""
        return {k.lower(): v for k, v in self.headers}

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def events(self) -> list[dict[str, Any]]:
        events = self.json.get("events")
        assert isinstance(events, list), self.text
        return events


@dataclass
class WebhookSink(HttpService):
    _owner_attr = "sink"
    _thread_name = "webhook-sink"
    host: str = "127.0.0.1"
    path: str = "/webhooks"
    deliveries: list[Delivery] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._fail_left = 0
        self._fail_status = 500

    @property
    def url(self) -> str:
        assert self._httpd is not None, "webhook sink not started"
        return f"http://{self.host}:{self._httpd.server_address[1]}{self.path}"

    # -- behaviour ---------------------------------------------------------------------------------
    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next `n` requests with `status` instead of 200."""
        with self._cond:
            self._fail_left = n
            self._fail_status = status

    def _receive(self, path: str, headers: list[tuple[str, str]], body: bytes) -> int:
        with self._cond:
            status = 200
            if self._fail_left > 0:
                self._fail_left -= 1
                status = self._fail_status
            self.deliveries.append(Delivery(path, headers, body, time.monotonic(), status))
            self._cond.notify_all()
            return status

    # -- reading -----------------------------------------------------------------------------------
    def snapshot(self) -> list[Delivery]:
        with self._cond:
            return list(self.deliveries)

    def events(self, *, name: str | None = None, channel: str | None = None,
               only_ok: bool = True) -> list[tuple[Delivery, dict[str, Any]]]:
        """(delivery, event) pairs, in arrival order, filtered by event name and channel.
        Requests answered with an error are left out unless `only_ok` is False."""
        out = []
        for d in self.snapshot():
            if only_ok and d.answered != 200:
                continue
            for e in d.events:
                if (name is None or e.get("name") == name) and (channel is None or e.get("channel") == channel):
                    out.append((d, e))
        return out

    def wait_for(self, predicate: Callable[[WebhookSink], bool], what: str, timeout: float = 30) -> None:
        """Block until predicate(self) holds; AssertionError with everything received after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:  # an RLock: the predicate may read the sink while we hold it
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"webhook sink: no {what} within {timeout}s; got:\n{self.describe()}")
                self._cond.wait(min(left, 0.1))

    def wait_event(self, name: str, channel: str, timeout: float = 30, count: int = 1) -> list[dict[str, Any]]:
        """Wait for `count` events of this name on this channel; returns all of them so far."""
        self.wait_for(lambda s: len(s.events(name=name, channel=channel)) >= count,
                      f"{count} x {name} on {channel}", timeout)
        return [e for _, e in self.events(name=name, channel=channel)]

    def describe(self) -> str:
        return "\n".join(
            f"  [{d.answered}] {d.received_at:.3f} {d.text}" for d in list(self.deliveries)
        ) or "  (nothing)"


class _Handler(BaseHTTPRequestHandler):
    sink: WebhookSink
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status = self.sink._receive(self.path, list(self.headers.items()), body)
        payload = b"{}" if status == 200 else b'{"error":"sink told to fail"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


WebhookSink._handler = _Handler

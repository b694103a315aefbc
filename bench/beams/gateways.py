"""The push gateways of the bench: the test suite's Web Push and APNs emulators, each in a process of its own.

Their own processes because they are busy too: the Web Push emulator decrypts every payload (RFC 8291) and checks
its VAPID JWT, the APNs emulator speaks HTTP/2 over TLS and checks an ES256 provider token per request. Sharing
one interpreter (one GIL) with each other or with the bench driver would make them the bottleneck being measured.

Every request is stamped with `time.time()` when it is recorded, so the driver can compute publish-to-gateway
latencies (same machine, same clock). The driver talks to each process over a Pipe:

    ("arrivals",) -> [(time, status, device token or subscription id), ...] since the last ("clear",)
    ("count",)    -> how many requests arrived since the last ("clear",)
    ("clear",)    -> None
    ("stop",)     -> the process exits
"""

from __future__ import annotations

import time
from multiprocessing.connection import Connection
from typing import Any

import hypercorn.config
from tests.support.emulators.apns import ApnsEmulator, Received
from tests.support.emulators.webpush import ReceivedPush, WebPushEmulator, token_for


class _TimedWebPush(WebPushEmulator):
    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, int, str]] = []

    def _record(self, push: ReceivedPush) -> None:
        self.arrivals.append((time.time(), push.status, push.subscription_id))
        super()._record(push)


class _StampedList(list[Received]):
    """The APNs emulator's `requests` list, stamping each request as the emulator appends it."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, int, str]] = []

    def append(self, item: Received) -> None:
        self.arrivals.append((time.time(), item.status, item.token or ""))
        super().append(item)


def _serve(conn: Connection, arrivals: list[tuple[float, int, str]], clear: Any) -> None:
    while True:
        command = conn.recv()[0]
        if command == "arrivals":
            conn.send(list(arrivals))
        elif command == "count":
            conn.send(len(arrivals))
        elif command == "clear":
            clear()
            conn.send(None)
        elif command == "stop":
            return


def webpush_main(conn: Connection, subscriptions: int, vapid_public_key: str) -> None:
    """Start the Web Push emulator, make `subscriptions` browser subscriptions bound to the instance's VAPID key,
    send back {"origin", "tokens"} (device tokens as the web SDK registers them), then answer commands."""
    timed = _TimedWebPush()
    with timed as push:
        subs = [push.new_subscription(application_server_key=vapid_public_key) for _ in range(subscriptions)]
        conn.send({"origin": push.origin, "tokens": [token_for(sub) for sub in subs]})
        del subs  # the emulator keeps what it needs to decrypt

        arrivals = timed.arrivals

        def clear() -> None:
            arrivals.clear()
            push.reset()

        _serve(conn, arrivals, clear)


def apns_main(conn: Connection, devices: int, topic: str) -> None:
    """Start the APNs emulator, register a .p8 key and `devices` device tokens for `topic`, send back the URLs,
    CA, key and tokens, then answer commands."""
    # Hypercorn ends an HTTP/2 connection after 1000 requests (keep_alive_max_requests), with streams in flight;
    # APNs does not, and the resent streams would show up as duplicates and retries. This process only.
    hypercorn.config.Config.keep_alive_max_requests = 2**31
    with ApnsEmulator() as apns:
        stamped = _StampedList()
        apns.requests = stamped
        key = apns.add_key()
        tokens = [apns.register_device(topic=topic) for _ in range(devices)]
        conn.send({"url": apns.url, "sandbox_url": apns.sandbox_url, "ca_file": str(apns.ca_file),
                   "key_id": key.key_id, "team_id": key.team_id, "private_key_pem": key.private_key_pem,
                   "tokens": tokens})

        def clear() -> None:
            stamped.arrivals.clear()
            stamped.clear()

        _serve(conn, stamped.arrivals, clear)

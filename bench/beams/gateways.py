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
    ("more", n, key) -> n more devices: {"ids": [...], "tokens": [...]} (Web Push: subscriptions bound to VAPID
                        key `key`; APNs: hex tokens, `key` ignored), for a second instance or inserted devices

`lean=True` swaps in the cheaper gateways of lean.py (same checks where it matters, verification cached and
decryption sampled), for runs where the strict emulators would be the bottleneck being measured.
"""

from __future__ import annotations

import time
from multiprocessing.connection import Connection
from typing import Any

import hypercorn.config
from tests.support.emulators.apns import ApnsEmulator, Received
from tests.support.emulators.webpush import ReceivedPush, WebPushEmulator, token_for

from bench.beams import lean as lean_gateways


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


def _serve(conn: Connection, arrivals: list[tuple[float, int, str]], clear: Any, more: Any) -> None:
    while True:
        command, *args = conn.recv()
        if command == "more":
            conn.send(more(*args))
        elif command == "arrivals":
            conn.send(list(arrivals))
        elif command == "count":
            conn.send(len(arrivals))
        elif command == "clear":
            clear()
            conn.send(None)
        elif command == "stop":
            return


def webpush_main(conn: Connection, subscriptions: int, vapid_public_key: str, lean: bool = False) -> None:
    """Start the Web Push emulator, make `subscriptions` browser subscriptions bound to the instance's VAPID key,
    send back {"origin", "tokens"} (device tokens as the web SDK registers them), then answer commands."""
    timed = lean_gateways.LeanWebPush() if lean else _TimedWebPush()
    with timed as push:

        def more(n: int, key: str) -> dict[str, list[str]]:
            subs = [push.new_subscription(application_server_key=key) for _ in range(n)]
            return {"ids": [sub.id for sub in subs], "tokens": [token_for(sub) for sub in subs]}

        conn.send({"origin": push.origin, "tokens": more(subscriptions, vapid_public_key)["tokens"]})
        arrivals = timed.arrivals

        def clear() -> None:
            arrivals.clear()
            push.reset()

        _serve(conn, arrivals, clear, more)


def apns_main(conn: Connection, devices: int, topic: str, lean: bool = False) -> None:
    """Start the APNs emulator, register a .p8 key and `devices` device tokens for `topic`, send back the URLs,
    CA, key and tokens, then answer commands."""
    # Hypercorn ends an HTTP/2 connection after 1000 requests (keep_alive_max_requests), with streams in flight;
    # APNs does not, and the resent streams would show up as duplicates and retries. This process only.
    hypercorn.config.Config.keep_alive_max_requests = 2**31
    emulator = lean_gateways.LeanApns() if lean else ApnsEmulator()
    with emulator as apns:
        stamped = _StampedList()
        apns.requests = stamped
        key = apns.add_key()

        def more(n: int, _vapid_key: str | None = None) -> dict[str, list[str]]:
            tokens = [apns.register_device(topic=topic) for _ in range(n)]
            return {"ids": tokens, "tokens": tokens}

        conn.send({"url": apns.url, "sandbox_url": apns.sandbox_url, "ca_file": str(apns.ca_file),
                   "key_id": key.key_id, "team_id": key.team_id, "private_key_pem": key.private_key_pem,
                   "tokens": more(devices)["tokens"]})

        def clear() -> None:
            stamped.arrivals.clear()
            stamped.clear()

        _serve(conn, stamped.arrivals, clear, more)

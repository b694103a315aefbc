"""CPU per send of the APNs provider's HTTP/2 client: httpx vs the h2 client (vs aioapns), against the emulator.

    .venv/bin/python -m bench.beams.apns_cpu [-n 2000] [-c 10 50 200] [-r 3] [--clients h2 httpx aioapns null]

The APNs emulator (HTTP/2 over TLS, ES256 check per request) runs in a process of its own per client
(`gateways.apns_main`), so only the sending side's CPU is counted: `time.process_time()` of this process over the
measured sends, divided by the sends. `-c` is how many sends are in flight at once. One unmeasured warm-up round
first (connection opened, JWT signed); then the clients take turns, round by round, so they share whatever else the
machine is doing, and a fixed pure-Python loop is timed each round (`calibration`) to compare runs. Clients:

- h2:      ApnsProvider as shipped: providers.http2.Http2Client (h2 under an asyncio Protocol);
- httpx:   ApnsProvider over the client it had before, httpx.AsyncClient(http2=True) configured as it was;
- aioapns: aioapns' own APNsKeyConnectionPool.send_notification (one connection), only when the package is
           importable (it is not a dependency: `pip install --target DIR aioapns` and put DIR on PYTHONPATH);
           it builds its own request, so it skips ApnsProvider's work (see `null`). Two patches, both explained
           where they are made: empty DATA frames skipped (aioapns JSON-decodes every frame) and its 10 s idle close
           lifted (each new connection signs a new JWT, which the emulator throttles as Apple does);
- null:    ApnsProvider over a client that answers 200 at once: the provider's own cost (payload, JWT, outcome),
           the floor under the first two.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx

from bench.beams.gateways import apns_main
from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.providers.apns import ApnsProvider
from tidings.providers.base import Delivered
from tidings.providers.http2 import ConnectionClosed, Response

TOPIC = "com.example.bench"
ALERT = {"aps": {"alert": {"title": "Hello", "body": "bench"}}}


class HttpxClient:
    """The transport ApnsProvider had before the h2 client: one httpx.AsyncClient(http2=True), as configured then."""

    def __init__(self, ca_file: str) -> None:
        self._http = httpx.AsyncClient(
            http2=True,
            verify=ssl.create_default_context(cafile=ca_file),
            timeout=httpx.Timeout(10.0, connect=5.0, pool=30.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=600.0),
        )

    async def request(
        self, base_url: str, path: str, headers: Iterable[tuple[str, str]], body: bytes = b"", *, method: str = "POST"
    ) -> Response:
        try:
            response = await self._http.request(method, base_url + path, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            raise ConnectionClosed(str(exc)) from exc
        return Response(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        await self._http.aclose()


class NullClient:
    """Answers 200 without any I/O: what the provider costs around the client."""

    async def request(
        self, base_url: str, path: str, headers: Iterable[tuple[str, str]], body: bytes = b"", *, method: str = "POST"
    ) -> Response:
        return Response(200, {}, b"")

    async def aclose(self) -> None:
        return None


async def _round(send: Callable[[int], Awaitable[bool]], n: int, c: int) -> float:
    queue = iter(range(n))
    bad = 0

    async def worker() -> None:
        nonlocal bad
        for i in queue:
            if not await send(i):
                bad += 1

    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(c)))
    used = time.process_time() - start
    if bad:
        raise SystemExit(f"{bad} of {n} sends not delivered")
    return used / n * 1e6


def _provider_sender(info: dict[str, Any], client: str) -> tuple[Callable[[int], Awaitable[bool]], Any]:
    settings = {"key_id": info["key_id"], "team_id": info["team_id"], "private_key": info["private_key_pem"],
                "topic": TOPIC}
    instance = Instance(id=str(uuid.uuid4()), secret_key="s", vapid_private_key="-", vapid_public_key="-",
                        providers={"apns": settings})
    devices = [Device(id=f"apns-{i}", instance_id=instance.id, platform=Platform.APNS, token=token)
               for i, token in enumerate(info["tokens"])]
    publish = Publish(id=f"pubid-{uuid.uuid4()}", instance_id=instance.id, kind="users", targets=("u",),
                      payload={"apns": ALERT})
    http = {"httpx": lambda: HttpxClient(info["ca_file"]), "null": NullClient}.get(client)
    provider = ApnsProvider(info["url"], info["sandbox_url"], info["ca_file"], http=http() if http else None)

    async def send(i: int) -> bool:
        return isinstance(await provider.send(instance, devices[i % len(devices)], publish), Delivered)

    async def close() -> None:
        await provider.close()
        if http is not None:
            await provider._http.aclose()

    return send, close


def _aioapns_sender(info: dict[str, Any]) -> tuple[Callable[[int], Awaitable[bool]], Any]:
    from aioapns.common import NotificationRequest, PushType
    from aioapns.connection import APNsBaseClientProtocol, APNsKeyConnectionPool, APNsProductionClientProtocol

    # aioapns 4.0 JSON-decodes every DATA frame, so the empty one ending a 200 (hypercorn sends one, where Apple
    # ends the HEADERS frame) crashes its connection: skip empty frames, nothing else changes.
    on_data = APNsBaseClientProtocol.on_data_received

    def on_data_received(self: Any, raw_data: bytes, stream_id: int) -> None:
        if raw_data:
            on_data(self, raw_data, stream_id)

    APNsBaseClientProtocol.on_data_received = on_data_received  # type: ignore[method-assign]
    # aioapns closes a connection idle for 10 s and signs a new JWT for each new connection, which the emulator
    # (as Apple) refuses as a renewal within 20 minutes: keep it open while the other clients take their turn.
    APNsBaseClientProtocol.INACTIVITY_TIME = 3600
    host, port = info["url"].removeprefix("https://").rsplit(":", 1)
    # aioapns talks to Apple's host names only; point its production protocol at the emulator.
    APNsProductionClientProtocol.APNS_SERVER = host
    APNsProductionClientProtocol.APNS_PORT = int(port)
    context = ssl.create_default_context(cafile=info["ca_file"])
    context.set_alpn_protocols(["h2"])  # aioapns leaves ALPN to the context it is given
    pool = APNsKeyConnectionPool(info["private_key_pem"], info["key_id"], info["team_id"], TOPIC,
                                 max_connections=1, ssl_context=context)
    tokens = info["tokens"]

    async def send(i: int) -> bool:
        request = NotificationRequest(device_token=tokens[i % len(tokens)], message=ALERT, push_type=PushType.ALERT)
        return (await pool.send_notification(request)).is_successful

    async def close() -> None:
        pool.close()  # not a coroutine in aioapns 4.0

    return send, close


def _calibrate() -> float:
    """CPU microseconds of a fixed pure-Python loop: how fast this machine is right now (load, frequency)."""
    start = time.process_time()
    for _ in range(200):
        sum(range(1000))
    return (time.process_time() - start) / 200 * 1e6


async def _measure(args: argparse.Namespace, infos: dict[str, dict[str, Any]]) -> None:
    senders = {
        client: _aioapns_sender(info) if client == "aioapns" else _provider_sender(info, client)
        for client, info in infos.items()
    }
    results: dict[tuple[str, int], list[float]] = {}
    calibration: list[float] = []
    try:
        for send, _ in senders.values():
            await _round(send, min(args.n, 200), max(args.c))
        # Interleaved: every client measured in every round, so they share whatever else the machine is doing.
        for c in args.c:
            for _ in range(args.rounds):
                calibration.append(_calibrate())
                for client, (send, _) in senders.items():
                    results.setdefault((client, c), []).append(await _round(send, args.n, c))
    finally:
        for _, close in senders.values():
            await close()
    for (client, c), values in results.items():
        print(f"{client:8s} concurrency {c:4d}: CPU us/send " + ", ".join(f"{v:.0f}" for v in values)
              + f"  (median {sorted(values)[len(values) // 2]:.0f})", flush=True)
    calibration.sort()
    # Other processes on a shared machine slow this one down too (caches, frequency, hyperthreads): compare runs
    # by their ratios, or scale them by this figure.
    print(f"calibration: sum(range(1000)) took {calibration[len(calibration) // 2]:.1f} us of CPU (median of "
          f"{len(calibration)} rounds)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="sends per round")
    parser.add_argument("-c", type=int, nargs="+", default=[10, 50, 200], help="sends in flight")
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("--clients", nargs="+", default=["h2", "httpx", "aioapns", "null"],
                        choices=["h2", "httpx", "aioapns", "null"])
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio (tidings serve uses uvloop)")
    args = parser.parse_args()

    clients = list(args.clients)
    if "aioapns" in clients:
        try:
            import aioapns  # noqa: F401
        except ImportError:
            print("aioapns: not installed, skipped", flush=True)
            clients.remove("aioapns")
    # An emulator process per client: each client signs its own provider token, which one emulator would
    # throttle as a renewal within 20 minutes (TooManyProviderTokenUpdates).
    gateways = []
    infos: dict[str, dict[str, Any]] = {}
    try:
        for client in clients:
            ours, theirs = multiprocessing.Pipe()
            gateway = multiprocessing.Process(target=apns_main, args=(theirs, 50, TOPIC), daemon=True)
            gateway.start()
            gateways.append((ours, gateway))
            infos[client] = ours.recv()
        if args.no_uvloop:
            asyncio.run(_measure(args, infos))
        else:
            import uvloop

            uvloop.run(_measure(args, infos))
    finally:
        for ours, gateway in gateways:
            ours.send(("stop",))
            gateway.join(10)


if __name__ == "__main__":
    main()

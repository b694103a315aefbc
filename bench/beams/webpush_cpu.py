"""CPU per send of the Web Push provider alone: `WebPushProvider.send` against the Web Push emulator.

    .venv/bin/python -m bench.beams.webpush_cpu [-n 2000] [-c 10 50 200] [--pool 200] [--pin]

The emulator runs in a process of its own (`gateways.webpush_main`), so only the provider's CPU is counted:
`time.process_time()` of this process over the measured sends, divided by the sends. The provider's pool is
sized as `tidings serve` sizes it (delivery_concurrency x workers, `--pool`); `-c` is how many sends are in
flight at once. One unmeasured warm-up round first (connections opened, JWT signed).

After each round of sends, the same process measures the bare RFC 8291 encryption of as many messages
(`tidings.providers.webpush.payload.encrypt`: a fresh ECDH key per message, as the provider does; the
subscriptions decoded beforehand) and prints the ratio send / encryption: what the provider costs beyond the
cryptography it cannot avoid.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.beams.gateways import webpush_main
from tidings.beams import vapid
from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.providers.base import Delivered
from tidings.providers.webpush import WebPushProvider, payload
from tidings.providers.webpush.subscription import decode as decode_subscription


@dataclass
class _Settings:
    delivery_concurrency: int
    gateway_ca_file: Path | None = None
    push_allow_private_networks: bool = True  # the emulator is on 127.0.0.1


PAYLOAD: dict[str, Any] = {"web": {"notification": {"title": "Hello", "body": "bench"}}}


async def _round(provider: WebPushProvider, instance: Instance, devices: list[Device], n: int, c: int) -> float:
    publish = Publish(id=f"pubid-{uuid.uuid4()}", instance_id=instance.id, kind="users", targets=("u",),
                      payload=PAYLOAD)
    queue = iter(range(n))
    bad: list[object] = []

    async def worker() -> None:
        for i in queue:
            outcome = await provider.send(instance, devices[i % len(devices)], publish)
            if not isinstance(outcome, Delivered):
                bad.append(outcome)

    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(c)))
    used = time.process_time() - start
    if bad:
        raise SystemExit(f"{len(bad)} sends not delivered, e.g. {bad[0]!r}")
    return used / n * 1e6


def _encryption(instance: Instance, tokens: list[str], n: int) -> float:
    """CPU us per bare encryption of the bench's message, `n` messages over the subscriptions in turn."""
    subscriptions = [decode_subscription(t) for t in tokens]
    plaintext = payload.message_bytes(instance.id, f"pubid-{uuid.uuid4()}", PAYLOAD["web"])
    start = time.process_time()
    for i in range(n):
        payload.encrypt(plaintext, subscriptions[i % len(subscriptions)])
    return (time.process_time() - start) / n * 1e6


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


async def _main(args: argparse.Namespace, instance: Instance, tokens: list[str]) -> None:
    devices = [Device(id=f"web-{i}", instance_id=instance.id, platform=Platform.WEB, token=t)
               for i, t in enumerate(tokens)]
    provider = WebPushProvider(_Settings(delivery_concurrency=args.pool))
    try:
        await _round(provider, instance, devices, min(args.n, 200), max(args.c))
        _encryption(instance, tokens, min(args.n, 200))
        for c in args.c:
            sends, crypto = [], []
            for _ in range(args.rounds):
                sends.append(await _round(provider, instance, devices, args.n, c))
                crypto.append(_encryption(instance, tokens, args.n))
            print(f"concurrency {c:4d}: CPU us/send " + ", ".join(f"{r:.0f}" for r in sends)
                  + f"  (median {_median(sends):.0f}); bare encryption us/message "
                  + ", ".join(f"{r:.0f}" for r in crypto) + f"  (median {_median(crypto):.0f}); "
                  f"send / encryption {_median(sends) / _median(crypto):.2f}x", flush=True)
    finally:
        await provider.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="sends per round")
    parser.add_argument("-c", type=int, nargs="+", default=[10, 50, 200], help="sends in flight")
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("--pool", type=int, default=200, help="the provider's delivery_concurrency (pool size)")
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio (tidings serve uses uvloop)")
    parser.add_argument("--pin", action="store_true", help="this process on CPU 0, the emulator on CPU 1")
    args = parser.parse_args()
    if args.pin:
        os.sched_setaffinity(0, [1])  # the emulator is spawned from here and inherits it

    private_pem, public_b64 = vapid.generate_keypair()
    instance = Instance(id=str(uuid.uuid4()), secret_key="s", vapid_private_key=private_pem,
                        vapid_public_key=public_b64)
    ours, theirs = multiprocessing.Pipe()
    gateway = multiprocessing.Process(target=webpush_main, args=(theirs, 50, public_b64), daemon=True)
    gateway.start()
    if args.pin:
        os.sched_setaffinity(0, [0])
    try:
        tokens = ours.recv()["tokens"]
        if args.no_uvloop:
            asyncio.run(_main(args, instance, tokens))
        else:
            import uvloop

            uvloop.run(_main(args, instance, tokens))
    finally:
        ours.send(("stop",))
        gateway.join(10)


if __name__ == "__main__":
    main()

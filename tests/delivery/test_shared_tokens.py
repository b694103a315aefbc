"""Two real `tidings worker` processes share one APNs provider token through the database.

Apple throttles a signing key whose provider token changes more often than every 20 minutes (429
TooManyProviderTokenUpdates), and the emulator enforces that rule. Two processes each signing their own token
make the second one's requests fail; with the token shared through the database, every request carries the
same token and every device gets its notifications.

The setup is the honest one: real worker processes on a temporary PostgreSQL database, the real APNs provider
over HTTP/2 and TLS, and the APNs emulator. The first worker signs the token; the second starts later, so
its own token, were it to sign one, would have a different `iat`. To be sure the second one sends, the
first is paused (SIGSTOP) for one publish; then both deliver the rest together.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.delivery.support import add_devices, publish
from tests.storage.postgres import temporary_database
from tests.support.emulators.apns import ApnsEmulator, SigningKey
from tidings.beams.instances import new_instance
from tidings.providers.apns import parse_settings
from tidings.storage import Storage, open_storage

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # worker processes, paused and stopped with signals

TOPIC = "com.example.shared"
DEVICES = 40
ALERT = {"apns": {"aps": {"alert": {"title": "Hello", "body": "from two workers"}}}}


@pytest.fixture
def database_url() -> Iterator[str]:
    with temporary_database("tidings_tokens") as url:
        yield url


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    storage = await open_storage(database_url)
    await storage.migrate()
    yield storage
    await storage.close()


@pytest.fixture
def apns() -> Iterator[ApnsEmulator]:
    with ApnsEmulator(throttle_token_updates=True) as emulator:
        yield emulator


async def prepare(storage: Storage, apns: ApnsEmulator) -> tuple[str, SigningKey, list[str]]:
    """An instance with an APNs key, and DEVICES iPhones interested in "news"."""
    key = apns.add_key()
    instance = new_instance(name="shared-tokens").model_copy(update={"providers": {"apns": key.settings(topic=TOPIC)}})
    await storage.instances.create(instance)
    tokens = {f"apns-{n:04d}": apns.register_device(topic=TOPIC) for n in range(DEVICES)}
    await add_devices(storage, tokens, interests=lambda d: ["news"], token=tokens.__getitem__, instance_id=instance.id)
    return instance.id, key, list(tokens.values())


def start_worker(database_url: str, apns: ApnsEmulator, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env.update(
        TIDINGS_DATABASE_URL=database_url,
        TIDINGS_APNS_URL=apns.url,
        TIDINGS_APNS_SANDBOX_URL=apns.sandbox_url,
        TIDINGS_GATEWAY_CA_FILE=str(apns.ca_file),
        TIDINGS_DELIVERY_LEASE="2",  # a paused worker's leases, if any, are taken over quickly
        TIDINGS_LOG_LEVEL="info",  # "delivery worker(s) running" tells the test the worker is up
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tidings", "worker"], stdout=out, stderr=subprocess.STDOUT, env=env
        )


async def wait_running(log: Path, workers: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count("worker(s) running") < workers:
        assert time.monotonic() < deadline, f"workers did not start; log:\n{log.read_text(errors='replace')}"
        await asyncio.sleep(0.05)


async def wait_done(
    storage: Storage, apns: ApnsEmulator, instance_id: str, publish_id: str, log: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = await storage.delivery.status(instance_id, publish_id)
        if status is not None and status.state == "done":
            return
        throttled = len(apns.received(status=429))
        if throttled or time.monotonic() > deadline:
            raise AssertionError(
                f"{publish_id} not done ({status}); {throttled} TooManyProviderTokenUpdates; "
                f"log:\n{log.read_text(errors='replace')[-5000:]}"
            )
        await asyncio.sleep(0.1)


def delivered(apns: ApnsEmulator) -> Counter[str]:
    """Notifications accepted, per publish id (the payload names it)."""
    return Counter(r.body["data"]["pusher"]["publishId"] for r in apns.delivered())


async def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)  # a paused process cannot handle SIGTERM
        proc.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(proc.wait, 20)


async def test_two_worker_processes_share_one_provider_token(
    storage: Storage, apns: ApnsEmulator, database_url: str, tmp_path: Path
) -> None:
    instance_id, key, tokens = await prepare(storage, apns)
    log = tmp_path / "workers.log"
    first = start_worker(database_url, apns, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        await wait_running(log, 1)
        await publish(storage, "pubid-first", "interests", ["news"], ALERT, instance_id=instance_id)
        await wait_done(storage, apns, instance_id, "pubid-first", log)
        signed_at = time.time()

        second = start_worker(database_url, apns, log)
        await wait_running(log, 2)
        # Whole seconds: a token the second worker signed itself would now have another iat.
        await asyncio.sleep(max(0.0, signed_at + 1.1 - time.time()))
        first.send_signal(signal.SIGSTOP)  # this publish is the second worker's alone
        await publish(storage, "pubid-second", "interests", ["news"], ALERT, instance_id=instance_id)
        await wait_done(storage, apns, instance_id, "pubid-second", log)
        first.send_signal(signal.SIGCONT)

        for n in range(4):  # both working
            await publish(storage, f"pubid-both-{n}", "interests", ["news"], ALERT, instance_id=instance_id)
        for n in range(4):
            await wait_done(storage, apns, instance_id, f"pubid-both-{n}", log)
    finally:
        assert await stop(first) == 0, log.read_text(errors="replace")
        if second is not None:
            assert await stop(second) == 0, log.read_text(errors="replace")

    assert not apns.received(status=429), "a worker signed a provider token of its own"
    publishes = ["pubid-first", "pubid-second", *(f"pubid-both-{n}" for n in range(4))]
    assert delivered(apns) == dict.fromkeys(publishes, DEVICES)  # every device got each, once
    for publish_id in publishes:
        status = await storage.delivery.status(instance_id, publish_id)
        assert status is not None and status.devices["sent"] == DEVICES
    assert len({r.jwt for r in apns.requests}) == 1  # one provider token for both processes
    assert len(apns.connections) >= 2  # ... and both processes sent with it
    fingerprint = parse_settings(key.settings()).key_fingerprint
    stored = await storage.gateway_tokens.get(f"apns:{key.team_id}:{key.key_id}:{fingerprint}")
    assert stored is not None and stored.value == apns.requests[0].jwt

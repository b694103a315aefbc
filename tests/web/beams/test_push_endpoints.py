"""Registering a web device: the push endpoint must be an https URL on a public address (no SSRF), unless
push_allow_private_networks is on. In-process: the real app and SQLite storage, DNS from FakeDns or the system."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.fake_dns import PUBLIC_V4, PUBLIC_V6, FakeDns
from tidings.beams.instances import new_instance
from tidings.beams.models import Instance
from tidings.config import Settings
from tidings.metrics import Metrics
from tidings.realtime.events import EventStream
from tidings.realtime.hub import Hub
from tidings.realtime.registry import AppRegistry
from tidings.storage import Storage, open_storage
from tidings.ttlcache import TTLCache
from tidings.web.app import build_app
from tidings.web.beams.common import RateLimiter
from tidings.web.context import Context

Register = Callable[[str], Awaitable[tuple[int, dict[str, Any]]]]
MakeClient = Callable[..., Awaitable[Register]]

PRIVATE = [
    "http://push.test/p",  # plain http
    "https://127.0.0.1/p",
    "https://10.1.2.3/p",
    "https://[::1]/p",
    "https://[::ffff:127.0.0.1]/p",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/p",
    "https://[fd00::1]:8443/p",
    "https://internal.test/p",  # FakeDns: 10.0.0.7
    "https://localhost/p",  # the system resolver: loopback
]


def token(endpoint: str) -> str:
    """What the web SDK sends: btoa(JSON.stringify(pushSubscription))."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    p256dh = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    keys = {"p256dh": base64.urlsafe_b64encode(p256dh).decode(), "auth": base64.urlsafe_b64encode(b"a" * 16).decode()}
    return base64.b64encode(json.dumps({"endpoint": endpoint, "keys": keys}).encode()).decode()


class SystemDnsFor(FakeDns):
    """FakeDns, except `localhost`, which goes to the real resolver (resolving it needs no network)."""

    def __init__(self, answers: dict[str, list[str]], system: AbstractResolver) -> None:
        super().__init__(answers)
        self._system = system

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host == "localhost":
            return await self._system.resolve(host, port, family)
        return await super().resolve(host, port, family)


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    storage = await open_storage(f"sqlite+aiosqlite:///{tmp_path / 'tidings.db'}")
    await storage.migrate()
    yield storage
    await storage.close()


@pytest.fixture
async def instance(storage: Storage) -> Instance:
    return await storage.instances.create(new_instance(name="t"))


@pytest.fixture
async def make_client(storage: Storage, instance: Instance) -> AsyncIterator[MakeClient]:
    """`await make_client(allow=...)` -> `register(endpoint)` -> (status, body) of POST .../devices/web."""
    clients: list[TestClient[Any, Any]] = []

    async def make(*, allow: bool = False) -> Register:
        settings = Settings(push_allow_private_networks=allow)
        stream = EventStream()
        ctx = Context(
            settings, storage, AppRegistry(storage.apps, 0), Hub(stream), stream, Metrics(),
            instances=TTLCache(storage.instances.get, 0), beams_rate=RateLimiter(100),
            push_resolver=SystemDnsFor(
                {"push.test": [PUBLIC_V4, PUBLIC_V6], "internal.test": ["10.0.0.7"]}, ThreadedResolver()
            ),
        )
        client: TestClient[Any, Any] = TestClient(TestServer(build_app(ctx)))
        await client.start_server()
        clients.append(client)

        async def register(endpoint: str) -> tuple[int, dict[str, Any]]:
            response = await client.post(
                f"/device_api/v1/instances/{instance.id}/devices/web", json={"token": token(endpoint)}
            )
            return response.status, await response.json()

        return register

    yield make
    for client in clients:
        await client.close()


@pytest.mark.parametrize("endpoint", PRIVATE)
async def test_non_public_endpoints_are_refused(make_client: MakeClient, endpoint: str) -> None:
    register = await make_client()

    status, body = await register(endpoint)

    assert status == 400
    assert body["error"] == "InvalidToken"  # what every refused device token gets
    assert "endpoint" in body["description"]


@pytest.mark.parametrize("endpoint", PRIVATE)
async def test_allowed_when_private_networks_are(make_client: MakeClient, endpoint: str) -> None:
    register = await make_client(allow=True)

    status, body = await register(endpoint)

    assert status == 200, body
    assert body["id"].startswith("web-")


@pytest.mark.parametrize(
    "endpoint", ["https://push.test/fcm/send/abc", f"https://{PUBLIC_V4}/p", "https://[2606:2800:220:1::1]:8443/p"]
)
async def test_public_https_endpoints_are_accepted(make_client: MakeClient, endpoint: str) -> None:
    register = await make_client()

    status, body = await register(endpoint)

    assert status == 200, body


async def test_an_unknown_host_is_refused(make_client: MakeClient) -> None:
    register = await make_client()

    status, body = await register("https://nowhere.test/p")

    assert (status, body["error"]) == (400, "InvalidToken")
    assert "does not resolve" in body["description"]

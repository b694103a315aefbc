"""A dead or slow webhook endpoint delays only its own events, and memory stays bounded while it is dead.

In process, through the wiring `serve` uses (start_webhooks: the outbox, its HTTP session, both products'
listeners, metrics) over a real SQLite storage, with aiohttp servers as the endpoints. The issue this guards
against: one app's dead endpoint (each failing request held one of 200 global slots for its 5 minutes of retries)
made another app's webhooks drop, 0 of 20 delivered.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tidings.beams import events as bev
from tidings.beams.instances import new_instance
from tidings.beams.models import Publish
from tidings.channels.apps import App, Webhook
from tidings.events import EventStream
from tidings.metrics import Metrics
from tidings.realtime import events as cev
from tidings.storage import Storage, open_storage
from tidings.webhooks.outbox import Limits
from tidings.webhooks.wiring import Webhooks, start_webhooks

# Seconds; a healthy endpoint gets its events in well under 0.1 s on an idle machine. Kept below the 10 s request
# timeout: a sender that let a hanging endpoint hold another app's events would take at least that long.
PROMPTLY = 7.0


async def requests_out(endpoint: Endpoint) -> None:
    """Wait (generously: a loaded machine) until the dead endpoint has been asked at least once."""
    deadline = time.monotonic() + 30
    while endpoint.requests == 0:
        assert time.monotonic() < deadline, "the dead endpoint was never asked"
        await asyncio.sleep(0.02)


class Endpoint:
    """A webhook receiver. `mode`: "ok" answers 200 at once, "hang" never answers, "fail" answers 500 at once,
    "slow" answers 200 after 30 s."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.requests = 0
        self.events: list[dict[str, Any]] = []  # Channels events, or Beams payloads
        self.release = asyncio.Event()  # ends every wait at teardown
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("/hook"))

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = orjson.loads(await request.read())
        if self.mode == "hang":
            await self.release.wait()
        elif self.mode == "slow":
            await asyncio.wait([asyncio.ensure_future(self.release.wait())], timeout=30)
        elif self.mode == "fail":
            return web.Response(status=500)
        self.events.extend(body["events"] if "events" in body else [body["payload"]])
        return web.json_response({})

    async def wait_for(self, count: int, timeout: float) -> float:
        """Seconds until `count` events arrived; fails after `timeout`."""
        start = time.monotonic()
        while len(self.events) < count:
            assert time.monotonic() - start < timeout, f"{len(self.events)} of {count} events after {timeout} s"
            await asyncio.sleep(0.01)
        return time.monotonic() - start


class Stack:
    """What `serve` runs for webhooks, with a Channels app and a Beams instance per endpoint."""

    def __init__(self, storage: Storage, limits: Limits | None) -> None:
        self.storage = storage
        self.stream = EventStream()
        self.metrics = Metrics()
        self.apps: dict[str, App] = {}
        self.webhooks: Webhooks = start_webhooks(
            self.stream, storage, metrics=self.metrics, apps=self.apps.get, limits=limits
        )

    def app(self, endpoint: Endpoint) -> str:
        app_id = f"app-{len(self.apps)}"
        self.apps[app_id] = App(id=app_id, key=f"key-{app_id}", secret="s", webhooks=(Webhook(url=endpoint.url),))
        return app_id

    async def instance(self, endpoint: Endpoint) -> tuple[str, str]:
        """A Beams instance whose webhook is `endpoint`, and a publish to users of it."""
        inst = new_instance()
        inst = inst.model_copy(update={"providers": {"webhooks": [
            {"id": str(uuid.uuid4()), "url": endpoint.url, "secret": "beams-secret"}
        ]}})
        await self.storage.instances.create(inst)
        publish = Publish(id=f"pubid-{uuid.uuid4()}", instance_id=inst.id, kind="users", targets=("alice",),
                          payload={"web": {"notification": {"title": "hi"}}})
        await self.storage.publishes.create(publish)
        return inst.id, publish.id

    def channels_events(self, app_id: str, count: int, data: str = "{}") -> None:
        for i in range(count):
            self.stream.emit(cev.ClientEventSent(app_id, f"private-{i}", "client-x", data, "1.1", None))

    def beams_reports(self, instance_id: str, publish_id: str, count: int) -> None:
        # Devices unknown to storage: the report's own user id is used, and each (publish, device) is sent once.
        for i in range(count):
            self.stream.emit(bev.BeamsNotificationReported(instance_id, publish_id, "open", f"web-{i}", "alice"))

    def dropped(self, product: str, scope: str, endpoint: Endpoint | None, reason: str) -> float:
        target = f"127.0.0.1:{endpoint.server.port}" if endpoint else ""
        labels = {"product": product, "scope": scope, "target": target, "reason": reason}
        return self.metrics.registry.get_sample_value("tidings_webhooks_dropped_total", labels) or 0.0

    def gauge(self, name: str) -> float:
        value = self.metrics.registry.get_sample_value(name)
        assert value is not None
        return value


@pytest.fixture
async def endpoints() -> AsyncIterator[Callable[[str], Endpoint]]:
    started: list[Endpoint] = []

    def make(mode: str = "ok") -> Endpoint:
        endpoint = Endpoint(mode)
        started.append(endpoint)
        return endpoint

    yield make
    for endpoint in started:
        endpoint.release.set()
        await endpoint.server.close()


@pytest.fixture
async def make_stack(tmp_path: Path) -> AsyncIterator[Callable[..., Stack]]:
    storage = await open_storage(f"sqlite+aiosqlite:///{tmp_path / 'tidings.db'}")
    await storage.migrate()
    stacks: list[Stack] = []

    def make(limits: Limits | None = None) -> Stack:
        stacks.append(Stack(storage, limits))
        return stacks[-1]

    yield make
    for stack in stacks:
        await stack.webhooks.close()
    await storage.close()


async def start(*endpoints: Endpoint) -> None:
    for endpoint in endpoints:
        await endpoint.server.start_server()


@pytest.mark.parametrize("mode", ["hang", "fail", "slow"])
async def test_a_dead_endpoint_of_one_app_does_not_delay_another_apps_webhooks(
    mode: str, endpoints: Callable[[str], Endpoint], make_stack: Callable[..., Stack]
) -> None:
    dead, healthy = endpoints(mode), endpoints("ok")
    await start(dead, healthy)
    stack = make_stack()
    app_a, app_b = stack.app(dead), stack.app(healthy)
    stack.channels_events(app_a, 300)  # more than the 200 requests the old sender allowed in flight overall
    await requests_out(dead)  # A's requests are out (hanging, failing and waiting to retry, or slow)

    stack.channels_events(app_b, 20)
    took = await healthy.wait_for(20, PROMPTLY)
    assert took < PROMPTLY and len(healthy.events) == 20
    assert stack.dropped("channels", app_b, healthy, "target full") == 0
    assert dead.events == []


@pytest.mark.parametrize("dead_product", ["channels", "beams"])
async def test_one_outbox_for_both_products_isolates_them_too(
    dead_product: str, endpoints: Callable[[str], Endpoint], make_stack: Callable[..., Stack]
) -> None:
    dead, healthy = endpoints("hang"), endpoints("ok")
    await start(dead, healthy)
    stack = make_stack()
    if dead_product == "channels":
        stack.channels_events(stack.app(dead), 300)
        instance_id, publish_id = await stack.instance(healthy)
        await requests_out(dead)
        stack.beams_reports(instance_id, publish_id, 20)
    else:
        dead_instance, dead_publish = await stack.instance(dead)
        stack.beams_reports(dead_instance, dead_publish, 300)
        app_id = stack.app(healthy)
        await requests_out(dead)
        stack.channels_events(app_id, 20)
    assert await healthy.wait_for(20, PROMPTLY) < PROMPTLY
    assert dead.requests > 0 and dead.events == []


async def test_memory_stays_bounded_under_a_dead_endpoint_and_drops_are_counted_per_target(
    endpoints: Callable[[str], Endpoint], make_stack: Callable[..., Stack]
) -> None:
    dead, healthy = endpoints("hang"), endpoints("ok")
    await start(dead, healthy)
    limits = Limits(target_events=500, target_bytes=1 << 20, total_events=2_000, total_bytes=4 << 20)
    stack = make_stack(limits)
    app_a, app_b = stack.app(dead), stack.app(healthy)
    data = "x" * 200
    flood = 20_000
    for _ in range(flood // 1_000):  # in passes, as a busy hub would emit them
        stack.channels_events(app_a, 1_000, data)
        await asyncio.sleep(0.06)
        assert stack.webhooks.outbox.outbox.events <= limits.target_events
    await asyncio.sleep(0.1)

    queued = stack.gauge("tidings_webhooks_queued_events")
    assert 0 < queued <= limits.target_events
    assert stack.gauge("tidings_webhooks_queued_bytes") <= limits.target_bytes
    # Every event is either still held (being sent or waiting) or counted as dropped, against its own target.
    assert stack.dropped("channels", app_a, dead, "target full") == flood - queued
    assert stack.dropped("channels", app_a, None, "queue full") == 0

    stack.channels_events(app_b, 20)
    assert await healthy.wait_for(20, PROMPTLY) < PROMPTLY
    assert stack.dropped("channels", app_b, healthy, "target full") == 0

"""Beams webhooks: what a receiver gets (body, headers, HMAC-SHA1 signature) and when (retries, limits).

Unit tests drive the Beams listener (BeamsWebhooks) with events and in-memory lookups, feeding the shared outbox,
which POSTs to a local sink over real HTTP; one test goes through a real `tidings serve`: reporting API -> event
stream -> webhook.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from tests.support.inprocess import run_cli
from tests.support.server import RunningServer
from tests.support.webhook_sink import Delivery, WebhookSink
from tidings.beams import events as ev
from tidings.beams import vapid
from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.beams_webhooks.listener import BeamsWebhooks
from tidings.webhooks.outbox import Limits, Retry
from tidings.webhooks.runner import OutboxRunner, Post, aiohttp_post

SECRET = "webhook-secret-1"
CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")
FAST_RETRIES = (0.05, 0.05, 0.05, 0.05)
ACK = "v1.UserNotificationAcknowledgement"


# -- fixtures: an instance with webhooks, its publishes and devices, in memory ------------------------------------
@dataclass
class World:
    instance: Instance
    publishes: dict[str, Publish] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    drops: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lookups: int = 0
    outbox: OutboxRunner | None = None

    async def get_instance(self, instance_id: str) -> Instance | None:
        self.lookups += 1
        return self.instance if instance_id == self.instance.id else None

    async def get_publish(self, instance_id: str, publish_id: str) -> Publish | None:
        self.lookups += 1
        return self.publishes.get(publish_id)

    async def get_device(self, instance_id: str, device_id: str) -> Device | None:
        return self.devices.get(device_id)

    async def user_devices(self, instance_id: str, user_id: str) -> int:
        return sum(1 for d in self.devices.values() if d.user_id == user_id)

    def publish(self, kind: str, *targets: str) -> Publish:
        pub = Publish(id=f"pubid-{uuid.uuid4()}", instance_id=self.instance.id, kind=kind,  # type: ignore[arg-type]
                      targets=targets, payload={"web": {"notification": {"title": "hi"}}})
        self.publishes[pub.id] = pub
        return pub

    def device(self, user_id: str | None, platform: Platform = Platform.WEB) -> Device:
        dev = Device(id=f"{platform.value}-{uuid.uuid4()}", instance_id=self.instance.id, platform=platform,
                     token="t", user_id=user_id)
        self.devices[dev.id] = dev
        return dev

    def sender(self, post: Post, *, retry_delays: tuple[float, ...] = FAST_RETRIES, limits: Limits | None = None,
               **kwargs: Any) -> BeamsWebhooks:
        """The listener, and the outbox it feeds (self.outbox)."""
        self.outbox = OutboxRunner(post, limits=limits or Limits(probe_every=0.01), on_drop=self.dropped,
                                   on_sent=lambda product, status: self.statuses.append(status))
        return BeamsWebhooks(
            self.get_instance, self.get_publish, self.get_device, self.user_devices, self.outbox,
            retry=Retry(retry_delays, max_retries=len(retry_delays)), **kwargs,
        )

    def dropped(self, product: str, scope: str, target: str, reason: str, events: int) -> None:
        assert product == "beams" and scope == self.instance.id
        self.drops.extend([reason] * events)

    async def running(self, sender: BeamsWebhooks) -> asyncio.Task[Any]:
        """Run the listener and its outbox; cancel the task to stop both."""
        assert self.outbox is not None
        task = asyncio.ensure_future(asyncio.gather(sender.run(), self.outbox.run()))
        await asyncio.sleep(0)
        return task

    async def settle(self, sender: BeamsWebhooks) -> None:
        """Let the listener drain its queue and the outbox finish the requests it was given."""
        assert self.outbox is not None
        for _ in range(200):
            await asyncio.sleep(0.01)
            if sender.queued == 0 and self.outbox.idle:
                return
        raise AssertionError(f"did not settle: queued={sender.queued} outbox={self.outbox.outbox.events}")


def make_instance(*hooks: dict[str, Any]) -> Instance:
    private_pem, public_b64 = vapid.generate_keypair()
    return Instance(id=str(uuid.uuid4()), secret_key="s", vapid_private_key=private_pem,
                    vapid_public_key=public_b64, providers={"webhooks": list(hooks)})


def hook(url: str, **extra: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "url": url, "secret": SECRET, **extra}


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as s:
        yield s


@pytest.fixture
async def post() -> AsyncIterator[Post]:
    async with aiohttp.ClientSession() as http:
        yield aiohttp_post(http)


@pytest.fixture
def world(sink: WebhookSink) -> World:
    return World(make_instance(hook(sink.url, custom_data={"team": "blue"})))


async def wait_sink(sink: WebhookSink, count: int, timeout: float = 30) -> list[Delivery]:
    def enough(s: WebhookSink) -> bool:
        return len(s.snapshot()) >= count

    await asyncio.to_thread(sink.wait_for, enough, f"{count} request(s)", timeout)
    return sink.snapshot()


def verify(delivery: Delivery, secret: str = SECRET) -> dict[str, Any]:
    """Check a request the way docs/beams/concepts/webhooks.md tells receivers to; return the JSON body."""
    expected = hmac.new(secret.encode(), delivery.body, hashlib.sha1).hexdigest()
    assert delivery.header("Webhook-Signature") == expected
    assert delivery.header("Content-Type") == "application/json"
    assert delivery.header("User-Agent") == "pusher-webhooks"
    uuid.UUID(delivery.header("Webhook-Request-ID-UUID") or "")
    body = delivery.json
    assert set(body) == {"payload", "metadata", "custom_data"}
    meta = body["metadata"]
    assert set(meta) == {"created_at", "event_type", "event_id", "product"} and meta["product"] == "beams"
    assert CREATED_AT.match(meta["created_at"]), meta
    assert delivery.header("Webhook-Event-Type") == meta["event_type"]
    uuid.UUID(meta["event_id"])
    return dict(body)


# -- v1.UserNotificationAcknowledgement / v1.UserNotificationOpen ------------------------------------------------
async def test_reports_of_a_users_publish_become_signed_webhooks(world: World, sink: WebhookSink, post: Post) -> None:
    sender = world.sender(post)
    task = await world.running(sender)
    pub = world.publish("users", "alice")
    dev = world.device("alice")
    iid = world.instance.id
    sender.on_event(ev.BeamsNotificationReported(iid, pub.id, "delivery", dev.id, None))
    sender.on_event(ev.BeamsNotificationReported(iid, pub.id, "open", dev.id, "alice"))
    # Two requests sent concurrently: they may arrive in either order.
    ack, opened = sorted(await wait_sink(sink, 2), key=lambda d: d.header("Webhook-Event-Type") != ACK)
    task.cancel()

    body = verify(ack)
    assert body["payload"] == {"instance_id": iid, "publish_id": pub.id, "user_id": "alice"}
    assert body["metadata"]["event_type"] == "v1.UserNotificationAcknowledgement"
    assert body["custom_data"] == {"team": "blue"}
    assert ack.header("Webhook-ID-UUID") == world.instance.providers["webhooks"][0]["id"]
    body = verify(opened)
    assert body["metadata"]["event_type"] == "v1.UserNotificationOpen"
    assert body["payload"]["user_id"] == "alice"
    assert body["metadata"]["event_id"] != verify(ack)["metadata"]["event_id"]


async def test_reports_sent_once_and_only_for_users_publishes(world: World, sink: WebhookSink, post: Post) -> None:
    sender = world.sender(post)
    task = await world.running(sender)
    iid = world.instance.id
    users_pub = world.publish("users", "bob")
    interests_pub = world.publish("interests", "donuts")
    dev = world.device("bob")
    gone = f"web-{uuid.uuid4()}"
    anonymous = world.device(None)
    events = [
        ev.BeamsNotificationReported(iid, interests_pub.id, "delivery", dev.id, "bob"),  # interests: no webhook
        ev.BeamsNotificationReported(iid, f"pubid-{uuid.uuid4()}", "delivery", dev.id, "bob"),  # unknown publish
        ev.BeamsNotificationReported(iid, users_pub.id, "delivery", dev.id, "mallory"),  # the device's user wins
        ev.BeamsNotificationReported(iid, users_pub.id, "Delivery", dev.id, "bob"),  # not lower-cased: unknown
        ev.BeamsNotificationReported(iid, users_pub.id, "delivery", dev.id, "bob"),  # a retried report
        ev.BeamsNotificationReported(iid, users_pub.id, "delivery", gone, "carol"),  # device gone: its report
        ev.BeamsNotificationReported(iid, users_pub.id, "delivery", anonymous.id, None),  # nobody to name
        ev.BeamsNotificationReported(str(uuid.uuid4()), users_pub.id, "open", dev.id, "bob"),  # other instance
    ]
    for event in events:
        sender.on_event(event)
    await world.settle(sender)
    task.cancel()
    # Sent side by side (the target's in-flight limit is above one): in no particular order.
    got = sorted((verify(d)["payload"] for d in sink.snapshot()), key=lambda p: str(p["user_id"]))
    assert got == [
        {"instance_id": iid, "publish_id": users_pub.id, "user_id": "bob"},
        {"instance_id": iid, "publish_id": users_pub.id, "user_id": "carol"},
    ]


async def test_each_webhook_gets_the_events_it_asked_for(sink: WebhookSink, post: Post) -> None:
    with WebhookSink(path="/opens") as opens_sink:
        world = World(make_instance(hook(sink.url), hook(opens_sink.url, events=["v1.UserNotificationOpen"],
                                                         secret="other")))
        sender = world.sender(post)
        task = await world.running(sender)
        pub = world.publish("users", "alice")
        dev = world.device("alice")
        sender.on_event(ev.BeamsNotificationReported(world.instance.id, pub.id, "delivery", dev.id, "alice"))
        sender.on_event(ev.BeamsNotificationReported(world.instance.id, pub.id, "open", dev.id, "alice"))
        await world.settle(sender)
        task.cancel()
        # Separate requests, sent concurrently: they may arrive in either order.
        by_type = {verify(d)["metadata"]["event_type"]: d for d in sink.snapshot()}
        assert sorted(by_type) == ["v1.UserNotificationAcknowledgement", "v1.UserNotificationOpen"]
        (only,) = opens_sink.snapshot()
        assert verify(only, secret="other")["metadata"]["event_type"] == "v1.UserNotificationOpen"
        # One event, two webhooks: the same event id, each request its own id.
        open_hook = by_type["v1.UserNotificationOpen"]
        assert verify(only, "other")["metadata"]["event_id"] == verify(open_hook)["metadata"]["event_id"]
        assert only.header("Webhook-Request-ID-UUID") != open_hook.header("Webhook-Request-ID-UUID")


# -- v1.PublishToUsersAttempt ---------------------------------------------------------------------------------------
def delivered(world: World, pub: Publish, device: Device, outcome: str) -> ev.BeamsDelivered:
    return ev.BeamsDelivered(world.instance.id, pub.id, device.id, device.user_id, device.platform.value, outcome,
                             200 if outcome == "sent" else 400, 1)


async def test_publish_to_users_attempt_summarises_users(world: World, sink: WebhookSink, post: Post) -> None:
    sender = world.sender(post)
    task = await world.running(sender)
    iid = world.instance.id
    pub = world.publish("users", "alice", "bob", "carol", "dave", "erin")
    alice_web, alice_apns = world.device("alice"), world.device("alice", Platform.APNS)
    bob = world.device("bob", Platform.FCM)
    dave = world.device("dave")
    erin = world.device("erin", Platform.APNS)
    sender.on_event(ev.BeamsPublishStarted(iid, pub.id, resumed=False))
    await asyncio.sleep(0.05)  # resolved: later results are folded in on the emitter's stack, not queued
    sender.on_event(delivered(world, pub, alice_apns, "failed"))
    assert sender.queued == 0
    sender.on_event(delivered(world, pub, alice_web, "sent"))
    sender.on_event(delivered(world, pub, bob, "failed"))
    sender.on_event(delivered(world, pub, dave, "removed"))
    sender.on_event(delivered(world, pub, erin, "skipped"))
    sender.on_event(ev.BeamsPublishFinished(iid, pub.id))
    (got,) = await wait_sink(sink, 1)
    task.cancel()
    body = verify(got)
    assert body["metadata"]["event_type"] == "v1.PublishToUsersAttempt"
    assert body["payload"] == {
        "instance_id": iid,
        "publish_id": pub.id,
        "users_delivered_to_gateway": ["alice"],
        "users_no_devices": ["carol", "dave", "erin"],
        "users_gateway_failed": ["bob"],
    }
    assert body["custom_data"] == {"team": "blue"}


async def test_interests_publishes_cost_one_lookup(world: World, sink: WebhookSink, post: Post) -> None:
    sender = world.sender(post)
    task = await world.running(sender)
    pub = world.publish("interests", "donuts")
    sender.on_event(ev.BeamsPublishStarted(world.instance.id, pub.id, resumed=False))
    await world.settle(sender)
    lookups = world.lookups
    for _ in range(1000):
        sender.on_event(delivered(world, pub, world.device(None), "sent"))
    sender.on_event(ev.BeamsPublishFinished(world.instance.id, pub.id))
    assert sender.queued == 0 and world.lookups == lookups
    await world.settle(sender)
    task.cancel()
    assert sink.snapshot() == []


async def test_resumed_publish_reports_unseen_users_with_devices_as_failed(
    world: World, sink: WebhookSink, post: Post
) -> None:
    sender = world.sender(post)
    task = await world.running(sender)
    iid = world.instance.id
    pub = world.publish("users", "alice", "bob", "carol")
    alice = world.device("alice")
    world.device("bob")  # its result was emitted by the worker that died
    sender.on_event(ev.BeamsPublishStarted(iid, pub.id, resumed=True))
    sender.on_event(delivered(world, pub, alice, "sent"))
    sender.on_event(ev.BeamsPublishFinished(iid, pub.id))
    (got,) = await wait_sink(sink, 1)
    task.cancel()
    payload = verify(got)["payload"]
    assert payload["users_delivered_to_gateway"] == ["alice"]
    assert payload["users_gateway_failed"] == ["bob"]
    assert payload["users_no_devices"] == ["carol"]


async def test_a_publish_without_any_device(world: World, sink: WebhookSink, post: Post) -> None:
    sender = world.sender(post)
    task = await world.running(sender)
    pub = world.publish("users", "nobody")
    sender.on_event(ev.BeamsPublishStarted(world.instance.id, pub.id, resumed=False))
    sender.on_event(ev.BeamsPublishFinished(world.instance.id, pub.id))
    sender.on_event(ev.BeamsPublishFinished(world.instance.id, pub.id))  # a second worker's: sent once
    (got,) = await wait_sink(sink, 1)
    await world.settle(sender)
    task.cancel()
    assert verify(got)["payload"]["users_no_devices"] == ["nobody"]
    assert len(sink.snapshot()) == 1


async def test_publishes_whose_end_never_comes_are_forgotten(world: World, sink: WebhookSink, post: Post) -> None:
    sender = world.sender(post, max_tracked=1, max_age=0.05)
    task = await world.running(sender)
    iid = world.instance.id
    lost, later = world.publish("users", "alice"), world.publish("users", "bob")
    sender.on_event(ev.BeamsPublishStarted(iid, lost.id, resumed=False))  # finished by another process
    await world.settle(sender)
    sender.on_event(ev.BeamsPublishStarted(iid, later.id, resumed=False))  # table full, nothing stale yet
    await world.settle(sender)
    assert world.drops == ["too many publishes tracked"]
    await asyncio.sleep(0.06)
    third = world.publish("users", "carol")
    sender.on_event(ev.BeamsPublishStarted(iid, third.id, resumed=False))
    sender.on_event(ev.BeamsPublishFinished(iid, third.id))
    (got,) = await wait_sink(sink, 1)
    task.cancel()
    assert verify(got)["payload"]["publish_id"] == third.id
    assert world.drops == ["too many publishes tracked", "publish end never seen"]


# -- retries, timeouts, bounds ------------------------------------------------------------------------------------
async def test_retried_on_500_with_the_same_body_and_request_id(world: World, sink: WebhookSink, post: Post) -> None:
    sink.fail_next(2, status=500)
    sender = world.sender(post)
    task = await world.running(sender)
    pub = world.publish("users", "alice")
    dev = world.device("alice")
    sender.on_event(ev.BeamsNotificationReported(world.instance.id, pub.id, "open", dev.id, "alice"))
    first, second, third = await wait_sink(sink, 3)
    await world.settle(sender)
    task.cancel()
    assert [d.answered for d in (first, second, third)] == [500, 500, 200]
    assert first.body == second.body == third.body
    assert len({d.header("Webhook-Request-ID-UUID") for d in (first, second, third)}) == 1
    verify(third)
    assert third.received_at - second.received_at >= FAST_RETRIES[1] * 0.9
    assert world.statuses == [500, 500, 200] and world.drops == []


async def test_gives_up_after_four_retries(world: World, sink: WebhookSink, post: Post) -> None:
    sink.fail_next(10, status=503)
    sender = world.sender(post)
    task = await world.running(sender)
    pub = world.publish("users", "alice")
    dev = world.device("alice")
    sender.on_event(ev.BeamsNotificationReported(world.instance.id, pub.id, "open", dev.id, "alice"))
    await wait_sink(sink, 5)
    await world.settle(sender)
    task.cancel()
    assert len(sink.snapshot()) == 5  # the first attempt and four retries, as Pusher does
    assert world.drops == ["retries exhausted"]


async def test_no_answer_within_the_timeout_is_a_failure(world: World) -> None:
    calls: list[float] = []

    async def slow_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        calls.append(timeout)
        if len(calls) == 1:
            await asyncio.sleep(10)
        return 200

    sender = world.sender(slow_post, timeout=0.1)
    task = await world.running(sender)
    pub = world.publish("users", "alice")
    dev = world.device("alice")
    sender.on_event(ev.BeamsNotificationReported(world.instance.id, pub.id, "open", dev.id, "alice"))
    await world.settle(sender)
    task.cancel()
    assert calls == [0.1, 0.1] and world.statuses == [0, 200]


async def test_memory_is_bounded_and_drops_are_counted(world: World, post: Post) -> None:
    never: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def stuck(url: str, body: bytes, headers: Any, timeout: float) -> int:
        return await never

    sender = world.sender(stuck, max_queue=3, limits=Limits(target_events=2), timeout=60)
    pub = world.publish("users", "alice")
    dev = world.device("alice")
    for i in range(5):  # nothing drains yet: the listener's queue holds three
        sender.on_event(ev.BeamsNotificationReported(world.instance.id, pub.id, "open", f"{dev.id}{i}", "alice"))
    assert sender.queued == 3 and world.drops == ["queue full"] * 2
    task = await world.running(sender)
    for _ in range(50):
        await asyncio.sleep(0.01)
        if sender.queued == 0:
            break
    # Three requests for one target that holds two: the oldest not being sent is dropped.
    assert world.outbox is not None and world.outbox.outbox.events == 2
    assert world.drops == ["queue full"] * 2 + ["target full"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    never.cancel()


async def test_unusable_settings_are_logged_not_fatal(sink: WebhookSink, post: Post,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    world = World(make_instance({"url": sink.url, "secret": ""}))
    sender = world.sender(post)
    task = await world.running(sender)
    pub = world.publish("users", "alice")
    dev = world.device("alice")
    sender.on_event(ev.BeamsNotificationReported(world.instance.id, pub.id, "open", dev.id, "alice"))
    await world.settle(sender)
    assert not task.done()
    task.cancel()
    assert sink.snapshot() == [] and "secret" in caplog.text


def test_created_at_is_pusher_format() -> None:
    from tidings.beams_webhooks.payloads import created_at

    assert created_at(datetime(2019, 3, 11, 10, 42, 16, 123, tzinfo=UTC)) == "2019-03-11T10:42:16+0000"


# -- through a real server: reporting API -> event stream -> webhook ----------------------------------------------
def test_server_sends_acknowledgement_webhooks(make_server: Any, sink: WebhookSink, tmp_path: Path) -> None:
    iid, secret = str(uuid.uuid4()), "S" * 64
    server: RunningServer = make_server(env={"TIDINGS_DEFAULT_INSTANCE_ID": iid,
                                             "TIDINGS_DEFAULT_INSTANCE_SECRET": secret,
                                             "TIDINGS_DELIVERY_WORKERS": "0"})
    done = run_cli("instances", "configure", iid, "--webhook-url", sink.url, "--webhook-secret", SECRET,
                       data_dir=server.data_dir)
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    base = f"{server.http_url}"
    published = requests.post(f"{base}/publish_api/v1/instances/{iid}/publishes/users",
                              json={"users": ["alice"], "web": {"notification": {"title": "hi"}}},
                              headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert published.status_code == 200, published.text
    publish_id = published.json()["publishId"]
    # The publish targeted web-1 (the row the delivery worker writes when it expands a publish; no worker runs here).
    with sqlite3.connect(server.data_dir / "tidings.db", timeout=15) as db:
        db.execute("INSERT INTO beams_deliveries (publish_id, device_id, platform, outcome, attempts, created_at) "
                   "VALUES (?, 'web-1', 'web', 'pending', 0, '2024-01-01 00:00:00.000000')", (publish_id,))
    # A report naming a device the publish never targeted is answered like any other, and sends nothing: nobody
    # can make a receiver believe alice opened a notification she was never sent.
    events = f"{base}/reporting_api/v2/instances/{iid}/events"
    forged = {"event": "open", "publishId": publish_id, "deviceId": "web-forged", "userId": "alice",
              "timestampSecs": 1700000000}
    assert requests.post(events, json=forged, timeout=10).status_code == 200
    report = {**forged, "deviceId": "web-1"}
    for _ in range(2):  # a retried report: one webhook
        r = requests.post(events, json=report, timeout=10)
        assert r.status_code == 200, r.text
    sink.wait_for(lambda s: len(s.snapshot()) >= 1, "an Open webhook", timeout=30)
    time.sleep(0.5)  # anything else would have been sent by now
    assert len(sink.snapshot()) == 1, [verify(d) for d in sink.snapshot()]
    body = verify(sink.snapshot()[0])
    assert body["payload"] == {"instance_id": iid, "publish_id": publish_id, "user_id": "alice"}
    assert body["metadata"]["event_type"] == "v1.UserNotificationOpen"


async def test_a_failing_webhook_is_logged_without_its_credentials(caplog: pytest.LogCaptureFixture) -> None:
    url = "https://hookuser:hookpass@hooks.example.com/beams?token=query-secret"
    world = World(make_instance(hook(url)))

    async def refusing(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        return 503

    sender = world.sender(refusing, retry_delays=())
    task = await world.running(sender)
    pub = world.publish("users", "alice")
    with caplog.at_level(logging.WARNING, logger="tidings.webhooks"):
        sender.on_event(ev.BeamsNotificationReported(world.instance.id, pub.id, "open", world.device("alice").id,
                                                     "alice"))
        await world.settle(sender)
    task.cancel()
    assert world.drops == ["retries exhausted"]
    assert "https://***@hooks.example.com/beams?***" in caplog.text
    for secret in ("hookuser", "hookpass", "query-secret"):
        assert secret not in caplog.text

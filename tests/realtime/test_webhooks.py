"""WebhookSender with an in-memory transport: holding, cancelling, batching, retries, bounded memory."""

import asyncio
import hashlib
import hmac
import logging

import orjson
import pytest

from tidings.channels.apps import App, Webhook
from tidings.realtime import events as ev
from tidings.realtime.webhooks import WebhookSender


class Endpoint:
    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests = []

    async def post(self, url, body, headers):
        self.requests.append((url, body, headers))
        return self.statuses.pop(0) if self.statuses else 200

    def events(self):
        return [e for _, body, _ in self.requests for e in orjson.loads(body)["events"]]


def make(app: App, endpoint: Endpoint, **kw):
    drops = []
    sender = WebhookSender(lambda _id: app, endpoint.post, on_drop=drops.append, hold=0.1, first_retry=0.01, **kw)
    return sender, drops


APP = App(id="1", key="key", secret="secret", webhooks=(Webhook(url="http://hook/a"),))


async def run_for(sender, seconds):
    task = asyncio.create_task(sender.run())
    await asyncio.sleep(seconds)
    task.cancel()


async def test_signed_body_and_exact_headers():
    endpoint = Endpoint()
    sender, _ = make(APP, endpoint)
    sender.on_event(ev.ChannelOccupied("1", "news"))
    await run_for(sender, 0.2)
    (url, body, headers), = endpoint.requests
    assert url == "http://hook/a"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Pusher-Key"] == "key"
    assert headers["X-Pusher-Signature"] == hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    doc = orjson.loads(body)
    assert doc["events"] == [{"name": "channel_occupied", "channel": "news"}]
    assert isinstance(doc["time_ms"], int)


async def test_vacated_is_held_and_cancelled_when_channel_comes_back():
    endpoint = Endpoint()
    sender, _ = make(APP, endpoint)
    task = asyncio.create_task(sender.run())
    sender.on_event(ev.ChannelVacated("1", "news"))
    sender.on_event(ev.ChannelOccupied("1", "news"))  # back within the hold: neither is sent
    sender.on_event(ev.MemberRemoved("1", "presence-a", "u1"))
    await asyncio.sleep(0.3)
    task.cancel()
    assert endpoint.events() == [{"name": "member_removed", "channel": "presence-a", "user_id": "u1"}]


async def test_batching_sends_one_request_per_drain():
    app = APP.model_copy(update={"webhook_batching": True})
    endpoint = Endpoint()
    sender, _ = make(app, endpoint)
    for i in range(5):
        sender.on_event(ev.MemberAdded("1", "presence-a", f"u{i}"))
    await run_for(sender, 0.2)
    assert len(endpoint.requests) == 1 and len(endpoint.events()) == 5


async def test_event_type_and_channel_filters():
    hook = Webhook(url="http://hook/b", event_types=("client_event",), channel_prefix="private-")
    app = APP.model_copy(update={"webhooks": (hook,)})
    endpoint = Endpoint()
    sender, _ = make(app, endpoint)
    sender.on_event(ev.ChannelOccupied("1", "private-a"))
    sender.on_event(ev.ClientEventSent("1", "presence-a", "client-x", "{}", "1.1", "u"))
    sender.on_event(ev.ClientEventSent("1", "private-a", "client-x", "{}", "1.1", None))
    await run_for(sender, 0.2)
    assert endpoint.events() == [
        {"name": "client_event", "channel": "private-a", "event": "client-x", "data": "{}", "socket_id": "1.1"}
    ]


async def test_retries_until_success():
    endpoint = Endpoint(statuses=[500, 0, 503, 200])
    sender, drops = make(APP, endpoint)
    sender.on_event(ev.CacheMiss("1", "cache-a"))
    await run_for(sender, 0.5)
    assert len(endpoint.requests) == 4 and not drops


async def test_gives_up_after_retry_window_and_counts_the_drop():
    endpoint = Endpoint(statuses=[500] * 100)
    sender, drops = make(APP, endpoint, retry_for=0.1)
    sender.on_event(ev.CacheMiss("1", "cache-a"))
    await run_for(sender, 0.5)
    assert drops == ["retries exhausted"]


async def test_queue_is_bounded():
    endpoint = Endpoint()
    sender, drops = make(APP, endpoint, max_queue=3)
    for i in range(5):
        sender.on_event(ev.ChannelOccupied("1", f"c{i}"))
    assert sender.queued == 3 and drops == ["queue full", "queue full"]


async def test_in_flight_requests_are_bounded():
    never = asyncio.Event()

    async def hang(url, body, headers):
        await never.wait()
        return 200

    drops = []
    sender = WebhookSender(lambda _id: APP, hang, on_drop=drops.append, max_in_flight=2)
    for i in range(4):
        sender.on_event(ev.ChannelOccupied("1", f"c{i}"))
    await run_for(sender, 0.1)
    assert drops == ["too many webhook requests in flight"] * 2


@pytest.mark.parametrize("app", [None, App(id="1", key="k", secret="s")])
async def test_apps_without_webhooks_cost_nothing(app):
    endpoint = Endpoint()
    sender = WebhookSender(lambda _id: app, endpoint.post)
    sender.on_event(ev.ChannelOccupied("1", "a"))
    assert sender.queued == 0


async def test_a_failing_webhook_is_logged_without_its_credentials(caplog):
    app = APP.model_copy(update={"webhooks": (Webhook(url="https://hookuser:hookpass@hooks.example.com/a?key=qs-secret"),)})
    sender, drops = make(app, Endpoint(statuses=[500] * 100), retry_for=0.05)
    with caplog.at_level(logging.WARNING, logger="tidings.webhooks"):
        sender.on_event(ev.CacheMiss("1", "cache-a"))
        await run_for(sender, 0.3)
    assert drops == ["retries exhausted"]
    assert "https://***@hooks.example.com/a?***" in caplog.text
    for secret in ("hookuser", "hookpass", "qs-secret"):
        assert secret not in caplog.text

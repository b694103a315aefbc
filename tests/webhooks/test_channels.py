"""Channels webhooks through the outbox, with an in-memory transport: holding, cancelling, batching, retries, bounds."""

import asyncio
import hashlib
import hmac
import logging

import orjson
import pytest

from tidings.channels.apps import App, Webhook
from tidings.realtime import events as ev
from tidings.webhooks.channels import ChannelsWebhooks
from tidings.webhooks.outbox import Limits, Retry
from tidings.webhooks.runner import OutboxRunner

FAST = Retry.doubling(0.01, 60.0, within=300.0, jitter=0.5)


class Endpoint:
    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests = []

    async def post(self, url, body, headers, timeout):
        self.requests.append((url, body, headers))
        return self.statuses.pop(0) if self.statuses else 200

    def events(self):
        return [e for _, body, _ in self.requests for e in orjson.loads(body)["events"]]


class Sending:
    """The Channels listener and the outbox it feeds, with the drops they count (one reason per event)."""

    def __init__(self, app, post, *, limits=None, retry=FAST, **kw):
        self.drops = []
        self.outbox = OutboxRunner(post, limits=limits or Limits(probe_every=0.01), on_drop=self._dropped)
        self.hooks = ChannelsWebhooks(lambda _id: app, self.outbox, hold=0.1, retry=retry, **kw)

    def _dropped(self, product, scope, target, reason, events):
        assert product == "channels"
        self.drops.extend([reason] * events)

    def on_event(self, event):
        self.hooks.on_event(event)

    async def run_for(self, seconds):
        task = asyncio.ensure_future(asyncio.gather(self.hooks.run(), self.outbox.run()))
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


APP = App(id="1", key="key", secret="secret", webhooks=(Webhook(url="http://hook/a"),))


async def test_signed_body_and_exact_headers():
    endpoint = Endpoint()
    sending = Sending(APP, endpoint.post)
    sending.on_event(ev.ChannelOccupied("1", "news"))
    await sending.run_for(0.2)
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
    sending = Sending(APP, endpoint.post)
    sending.on_event(ev.ChannelVacated("1", "news"))
    sending.on_event(ev.ChannelOccupied("1", "news"))  # back within the hold: neither is sent
    sending.on_event(ev.MemberRemoved("1", "presence-a", "u1"))
    await sending.run_for(0.3)
    assert endpoint.events() == [{"name": "member_removed", "channel": "presence-a", "user_id": "u1"}]


async def test_batching_sends_one_request_per_pass():
    app = APP.model_copy(update={"webhook_batching": True})
    endpoint = Endpoint()
    sending = Sending(app, endpoint.post)
    for i in range(5):
        sending.on_event(ev.MemberAdded("1", "presence-a", f"u{i}"))
    await sending.run_for(0.2)
    assert len(endpoint.requests) == 1 and len(endpoint.events()) == 5


async def test_event_type_and_channel_filters():
    hook = Webhook(url="http://hook/b", event_types=("client_event",), channel_prefix="private-")
    app = APP.model_copy(update={"webhooks": (hook,)})
    endpoint = Endpoint()
    sending = Sending(app, endpoint.post)
    sending.on_event(ev.ChannelOccupied("1", "private-a"))
    sending.on_event(ev.ClientEventSent("1", "presence-a", "client-x", "{}", "1.1", "u"))
    sending.on_event(ev.ClientEventSent("1", "private-a", "client-x", "{}", "1.1", None))
    await sending.run_for(0.2)
    assert endpoint.events() == [
        {"name": "client_event", "channel": "private-a", "event": "client-x", "data": "{}", "socket_id": "1.1"}
    ]


async def test_retries_until_success_with_the_same_body():
    endpoint = Endpoint(statuses=[500, 0, 503, 200])
    sending = Sending(APP, endpoint.post)
    sending.on_event(ev.CacheMiss("1", "cache-a"))
    await sending.run_for(0.5)
    assert len(endpoint.requests) == 4 and not sending.drops
    assert len({body for _, body, _ in endpoint.requests}) == 1


async def test_gives_up_after_retry_window_and_counts_the_drop():
    endpoint = Endpoint(statuses=[500] * 100)
    sending = Sending(APP, endpoint.post, retry=Retry.doubling(0.01, 60.0, within=0.1, jitter=0.5))
    sending.on_event(ev.CacheMiss("1", "cache-a"))
    await sending.run_for(0.5)
    assert sending.drops == ["retries exhausted"]


async def test_staging_is_bounded():
    sending = Sending(APP, Endpoint().post, max_staged=3)
    for i in range(5):
        sending.on_event(ev.ChannelOccupied("1", f"c{i}"))
    assert sending.hooks.staged == 3 and sending.drops == ["queue full", "queue full"]


async def test_in_flight_requests_are_bounded_per_target():
    never = asyncio.Event()
    calls = []

    async def hang(url, body, headers, timeout):
        calls.append(url)
        await never.wait()
        return 200

    sending = Sending(APP, hang, limits=Limits(in_flight=2))
    for i in range(4):
        sending.on_event(ev.ChannelOccupied("1", f"c{i}"))
    await sending.run_for(0.1)
    # Two sent at once; the other two wait their turn in the target's queue: nothing is dropped.
    assert len(calls) == 2 and sending.outbox.outbox.events == 4 and sending.drops == []


@pytest.mark.parametrize("app", [None, App(id="1", key="k", secret="s")])
async def test_apps_without_webhooks_cost_nothing(app):
    sending = Sending(app, Endpoint().post)
    sending.on_event(ev.ChannelOccupied("1", "a"))
    assert sending.hooks.staged == 0


async def test_a_failing_webhook_is_logged_without_its_credentials(caplog):
    app = APP.model_copy(update={"webhooks": (Webhook(url="https://hookuser:hookpass@hooks.example.com/a?key=qs-secret"),)})
    sending = Sending(app, Endpoint(statuses=[500] * 100).post, retry=Retry.doubling(0.01, 60, within=0.05, jitter=0.5))
    with caplog.at_level(logging.WARNING, logger="tidings.webhooks"):
        sending.on_event(ev.CacheMiss("1", "cache-a"))
        await sending.run_for(0.3)
    assert sending.drops == ["retries exhausted"]
    assert "https://***@hooks.example.com/a?***" in caplog.text
    for secret in ("hookuser", "hookpass", "qs-secret"):
        assert secret not in caplog.text

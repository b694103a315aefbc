"""Channels webhooks from a real running server, received by a local sink (tests/support/webhook_sink.py)
and checked with both official server SDKs: the Python SDK's `validate_webhook(key, signature, body)` and
the Node SDK's `pusher.webhook({headers, rawBody})` + `isValid()` / `getEvents()`
(tests/compat/node/webhook_check.mjs).

Webhooks are configured the way a user does it, with `tidings apps webhooks add` / `apps update`, before
any client connects. The clients are plain Pusher-protocol WebSockets (tests/support/ws_client.py).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pusher
import pytest

from tests.compat.nodejs import NODE_DIR
from tests.support.inprocess import run_cli, start_inprocess
from tests.support.server import RunningServer
from tests.support.user_auth import sign_user_data
from tests.support.webhook_sink import Delivery, WebhookSink
from tests.support.ws_client import WsClient, close_all

pytestmark = [pytest.mark.compat, pytest.mark.slow]

HOLD = 3.0  # channel_vacated / member_removed are held this long (docs/protocol/channels.md §6)
# How long a webhook the server owes may take to arrive on a loaded machine (waiting costs nothing when it comes).
WAIT = 30.0
LATE = 15.0  # how much later than its nominal time a held or retried webhook may arrive on a loaded machine


@dataclass
class Hooked:
    """The module's server and sinks: the default app posts every event to `all`, only member_added to
    `filtered`, and `retry-*` channel events to `flaky`; `batch_app` batches into `batch`."""

    server: RunningServer
    all: WebhookSink
    filtered: WebhookSink
    flaky: WebhookSink
    batch: WebhookSink
    batch_app: dict[str, str]


def cli(server: RunningServer, *args: str) -> str:
    done = run_cli(*args, data_dir=server.data_dir)
    assert done.returncode == 0, f"tidings {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """This module's own server; TIDINGS_APP_CACHE_TTL=0 so webhook settings are read fresh."""
    srv = start_inprocess(tmp_path_factory.mktemp("tidings-webhooks"), env={"TIDINGS_APP_CACHE_TTL": "0"})
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def hooked(server: RunningServer) -> Iterator[Hooked]:
    sinks = [WebhookSink().start() for _ in range(4)]
    all_, filtered, flaky, batch = sinks
    app = server.app_id
    cli(server, "apps", "webhooks", "add", app, all_.url)
    cli(server, "apps", "webhooks", "add", app, filtered.url, "--event", "member_added")
    cli(server, "apps", "webhooks", "add", app, flaky.url, "--channel-prefix", "retry-")
    batch_app = {"id": str(7_000_000 + secrets.randbelow(1_000_000)), "key": f"batch-{secrets.token_hex(4)}",
                 "secret": secrets.token_hex(12)}
    cli(server, "apps", "create", "--id", batch_app["id"], "--key", batch_app["key"], "--secret",
        batch_app["secret"], "--subscription-count")
    cli(server, "apps", "update", batch_app["id"], "--webhook-batching")
    cli(server, "apps", "webhooks", "add", batch_app["id"], batch.url)
    listed = json.loads(cli(server, "apps", "webhooks", "list", app, "--json"))
    assert {h["url"] for h in listed} == {all_.url, filtered.url, flaky.url}, listed
    yield Hooked(server, all_, filtered, flaky, batch, batch_app)
    for sink in sinks:
        sink.stop()


# -- helpers ---------------------------------------------------------------------------------------------


def uniq(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


async def connect(server: RunningServer, n: int, key: str | None = None) -> list[WsClient]:
    return [await WsClient.connect(server.ws_url(key)) for _ in range(n)]


async def subscribe(client: WsClient, channel: str, auth: str = "", channel_data: str | None = None) -> None:
    """Subscribe and skip other frames (member_added, client events...) until it succeeds."""
    await client.send_subscribe(channel, auth=auth, channel_data=channel_data)
    await client.wait_for("pusher_internal:subscription_succeeded", channel=channel)


async def join_presence(client: WsClient, server: RunningServer, channel: str, user_id: str) -> None:
    channel_data = json.dumps({"user_id": user_id, "user_info": {"name": user_id}})
    auth = client.presence_auth(server.key, server.secret, channel, channel_data)
    await subscribe(client, channel, auth, channel_data)


async def wait(
    sink: WebhookSink, name: str, channel: str, count: int = 1, timeout: float = WAIT
) -> list[dict[str, Any]]:
    return await asyncio.to_thread(sink.wait_event, name, channel, timeout, count)


def python_check(deliveries: list[Delivery], key: str, secret: str) -> list[Any]:
    sdk = pusher.Pusher(app_id="1", key=key, secret=secret, ssl=False)
    return [
        sdk.validate_webhook(key=d.header("X-Pusher-Key") or "", signature=d.header("X-Pusher-Signature") or "",
                             body=d.text)
        for d in deliveries
    ]


def node_check(requests: list[dict[str, Any]], key: str, secret: str) -> list[dict[str, Any]]:
    """Run webhook_check.mjs on [{"headers": {lower-case: value}, "body": raw}]."""
    proc = subprocess.run(
        ["node", "webhook_check.mjs"], cwd=NODE_DIR, input=json.dumps({"key": key, "secret": secret,
                                                                       "requests": requests}),
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 0, f"webhook_check.mjs exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    checked = [line for line in lines if line.get("event") == "checked"]
    assert len(checked) == 1, proc.stdout
    results: list[dict[str, Any]] = checked[0]["results"]
    assert len(results) == len(requests), proc.stdout
    return results


def verify(deliveries: list[Delivery], key: str, secret: str) -> None:
    """Every delivery: exact headers, valid for the Python SDK and the Node SDK, events as sent."""
    assert deliveries, "nothing to verify"
    now_ms = time.time() * 1000
    for d in deliveries:
        assert d.header("Content-Type") == "application/json", d.headers  # exactly: the Node SDK compares it
        assert d.header("X-Pusher-Key") == key, d.headers
        signature = d.header("X-Pusher-Signature") or ""
        assert len(signature) == 64 and signature == signature.lower(), d.headers
        body = d.json
        assert set(body) == {"time_ms", "events"}, body
        assert isinstance(body["time_ms"], int) and abs(body["time_ms"] - now_ms) < 60_000, body
        assert body["events"], body
    for d, parsed in zip(deliveries, python_check(deliveries, key, secret), strict=True):
        assert parsed is not None, f"the Python SDK's validate_webhook refused {d.headers} {d.text}"
        assert parsed == d.json
    node = node_check([{"headers": d.lower_headers, "body": d.text} for d in deliveries], key, secret)
    for d, result in zip(deliveries, node, strict=True):
        assert result["valid"] is True, f"the Node SDK's isValid() refused {d.headers} {d.text}: {result}"
        assert result["events"] == d.json["events"], result
        assert result["time_ms"] == d.json["time_ms"], result


def deliveries_for(sink: WebhookSink, channels: set[str], *, only_ok: bool = True) -> list[Delivery]:
    return [d for d in sink.snapshot()
            if (d.answered == 200 or not only_ok) and any(e.get("channel") in channels for e in d.events)]


def events_for(sink: WebhookSink, channels: set[str]) -> list[dict[str, Any]]:
    return [e for _, e in sink.events() if e.get("channel") in channels]


# -- tests -----------------------------------------------------------------------------------------------


async def test_channel_member_client_and_cache_events(hooked: Hooked, node_modules: None) -> None:
    srv = hooked.server
    pub, pres, priv, cache = uniq("pub-"), uniq("presence-room-"), uniq("private-room-"), uniq("cache-")
    a, b = await connect(srv, 2)
    try:
        await a.subscribe(pub, auth="")
        await join_presence(a, srv, pres, "ann")
        await join_presence(b, srv, pres, "ben")
        await a.expect("pusher_internal:member_added", channel=pres)
        for c in (a, b):
            await subscribe(c, priv, c.private_auth(srv.key, srv.secret, priv))
        await a.send("client-hi", {"x": 1}, channel=pres)
        await b.send("client-priv", "raw text", channel=priv)
        await subscribe(a, cache)
        await a.expect("pusher:cache_miss", channel=cache)

        for channel in (pub, pres, priv, cache):
            assert await wait(hooked.all, "channel_occupied", channel) == [
                {"name": "channel_occupied", "channel": channel}]
        added = await wait(hooked.all, "member_added", pres, count=2)
        assert sorted(added, key=lambda e: e["user_id"]) == [
            {"name": "member_added", "channel": pres, "user_id": "ann"},
            {"name": "member_added", "channel": pres, "user_id": "ben"},
        ]
        [presence_event] = await wait(hooked.all, "client_event", pres)
        assert presence_event == {"name": "client_event", "channel": pres, "event": "client-hi",
                                  "data": presence_event["data"], "socket_id": a.socket_id, "user_id": "ann"}
        assert isinstance(presence_event["data"], str) and json.loads(presence_event["data"]) == {"x": 1}
        [private_event] = await wait(hooked.all, "client_event", priv)
        assert private_event == {"name": "client_event", "channel": priv, "event": "client-priv",
                                 "data": "raw text", "socket_id": b.socket_id}  # no user_id off presence
        assert await wait(hooked.all, "cache_miss", cache) == [{"name": "cache_miss", "channel": cache}]

        # Removals are held about 3 s.
        await b.unsubscribe(pres)
        await a.unsubscribe(pub)
        left_at = time.monotonic()
        [removed] = await wait(hooked.all, "member_removed", pres, timeout=HOLD + WAIT)
        assert removed == {"name": "member_removed", "channel": pres, "user_id": "ben"}
        [vacated] = await wait(hooked.all, "channel_vacated", pub, timeout=HOLD + WAIT)
        assert vacated == {"name": "channel_vacated", "channel": pub}
        (d_removed, _), = hooked.all.events(name="member_removed", channel=pres)
        (d_vacated, _), = hooked.all.events(name="channel_vacated", channel=pub)
        for d in (d_removed, d_vacated):
            # Held (never before ~3 s); how much later it arrives is up to the machine's load.
            assert HOLD - 0.5 <= d.received_at - left_at <= HOLD + LATE, d.received_at - left_at
    finally:
        await close_all([a, b])

    channels = {pub, pres, priv, cache}
    got = deliveries_for(hooked.all, channels)
    assert all(len(d.events) == 1 for d in got), "without batching each request carries one event"
    # Each event exactly once: a 200 answer is not retried.
    names = sorted(e["name"] for d in got for e in d.events if e["channel"] in channels)
    assert names == sorted(["channel_occupied"] * 4 + ["member_added"] * 2 + ["client_event"] * 2
                           + ["cache_miss", "member_removed", "channel_vacated"]), names
    verify(got, srv.key, srv.secret)


async def test_sdks_refuse_a_tampered_webhook(hooked: Hooked, node_modules: None) -> None:
    """The SDK checks above could fail: a changed body or another secret is refused by both."""
    srv = hooked.server
    channel = uniq("tamper-")
    [a] = await connect(srv, 1)
    try:
        await a.subscribe(channel, auth="")
        await wait(hooked.all, "channel_occupied", channel)
    finally:
        await a.close()
    [d] = deliveries_for(hooked.all, {channel})
    verify([d], srv.key, srv.secret)
    tampered = Delivery(d.path, d.headers, d.body.replace(channel.encode(), (channel + "x").encode()),
                        d.received_at, d.answered)
    assert python_check([tampered], srv.key, srv.secret) == [None]
    assert python_check([d], srv.key, "another-secret") == [None]
    results = node_check([{"headers": tampered.lower_headers, "body": tampered.text},
                          {"headers": {**d.lower_headers, "content-type": "application/json; charset=utf-8"},
                           "body": d.text}], srv.key, srv.secret)
    assert [r["valid"] for r in results] == [False, False], results
    assert node_check([{"headers": d.lower_headers, "body": d.text}], srv.key, "another-secret")[0]["valid"] is False


async def test_event_type_filter(hooked: Hooked, node_modules: None) -> None:
    srv = hooked.server
    pres = uniq("presence-filter-")
    signed_id = uniq("sia-")
    a, b = await connect(srv, 2)
    try:
        await join_presence(a, srv, pres, "fay")
        # b is a signed-in member: no channel_data, its user id comes from the sign-in.
        assert b.socket_id is not None
        user_data = json.dumps({"id": signed_id})
        await b.send("pusher:signin", {"user_data": user_data, "auth": sign_user_data(
            srv.key, srv.secret, b.socket_id, user_data)})
        await b.expect("pusher:signin_success")
        await subscribe(b, pres, b.private_auth(srv.key, srv.secret, pres))
        await a.expect("pusher_internal:member_added", channel=pres)
        await b.send("client-x", {}, channel=pres)
        # The unfiltered target got everything; by then the filtered one had its chance too.
        [client_event] = await wait(hooked.all, "client_event", pres)
        assert client_event["user_id"] == signed_id, client_event
        await wait(hooked.all, "member_added", pres, count=2)
        await wait(hooked.all, "channel_occupied", pres)
        filtered = await wait(hooked.filtered, "member_added", pres, count=2)
        await asyncio.sleep(0.3)
    finally:
        await close_all([a, b])
    assert sorted(e["user_id"] for e in filtered) == sorted(["fay", signed_id])
    assert [e["name"] for e in events_for(hooked.filtered, {pres})] == ["member_added", "member_added"]
    assert {e["name"] for _, e in hooked.filtered.events()} == {"member_added"}, hooked.filtered.describe()
    verify(deliveries_for(hooked.filtered, {pres}), srv.key, srv.secret)


async def test_leave_and_come_back_within_3s_sends_nothing(hooked: Hooked) -> None:
    srv = hooked.server
    pub, pres = uniq("flap-"), uniq("presence-flap-")
    a, b = await connect(srv, 2)
    try:
        await a.subscribe(pub, auth="")
        await join_presence(a, srv, pres, "hal")
        await join_presence(b, srv, pres, "ida")
        await wait(hooked.all, "channel_occupied", pub)
        await wait(hooked.all, "member_added", pres, count=2)
        # Leave and come back well within the hold time.
        await a.unsubscribe(pub)
        await b.unsubscribe(pres)
        await asyncio.sleep(0.5)
        await subscribe(a, pub)
        await join_presence(b, srv, pres, "ida")
        await asyncio.sleep(HOLD + 1)
        names = [(e["name"], e.get("user_id")) for e in events_for(hooked.all, {pub, pres})]
        assert sorted(names, key=str) == sorted([("channel_occupied", None), ("channel_occupied", None),
                                                 ("member_added", "hal"), ("member_added", "ida")], key=str), names
    finally:
        await close_all([a, b])


async def test_batching_and_subscription_count(hooked: Hooked, node_modules: None) -> None:
    srv, app = hooked.server, hooked.batch_app
    channel = uniq("counted-")
    clients = await connect(srv, 3, key=app["key"])
    try:
        for c in clients:  # all three before reading any answer: their events arrive together
            await c.send_subscribe(channel, auth="")
        for c in clients:
            await c.expect("pusher_internal:subscription_succeeded", channel=channel)
        await wait(hooked.batch, "channel_occupied", channel)
        counts = await wait(hooked.batch, "subscription_count", channel, count=3)
        assert sorted(e["subscription_count"] for e in counts) == [1, 2, 3], counts
        assert all(set(e) == {"name", "channel", "subscription_count"} for e in counts), counts
        await clients[2].unsubscribe(channel)
        counts = await wait(hooked.batch, "subscription_count", channel, count=4)
        assert counts[-1]["subscription_count"] == 2, counts
    finally:
        await close_all(clients)
    got = deliveries_for(hooked.batch, {channel})
    assert max(len(d.events) for d in got) >= 2, f"no batched request:\n{hooked.batch.describe()}"
    assert len(got) < 5, f"5 events, {len(got)} requests: not batched\n{hooked.batch.describe()}"
    verify(got, app["key"], app["secret"])


async def test_failed_delivery_is_retried_with_backoff(hooked: Hooked, node_modules: None) -> None:
    srv = hooked.server
    channel = uniq("retry-")
    hooked.flaky.fail_next(2)
    [a] = await connect(srv, 1)
    try:
        await a.subscribe(channel, auth="")
        await asyncio.to_thread(
            hooked.flaky.wait_for, lambda s: len(deliveries_for(s, {channel}, only_ok=False)) >= 3,
            "3 attempts", WAIT,
        )
        await asyncio.sleep(1.5)  # a success is not retried
    finally:
        await a.close()
    tries = deliveries_for(hooked.flaky, {channel}, only_ok=False)
    assert [d.answered for d in tries] == [500, 500, 200], hooked.flaky.describe()
    assert len({d.body for d in tries}) == 1, "a retry resends the same body"
    assert len({d.header("X-Pusher-Signature") for d in tries}) == 1
    assert tries[0].events == [{"name": "channel_occupied", "channel": channel}]
    first_gap = tries[1].received_at - tries[0].received_at
    second_gap = tries[2].received_at - tries[1].received_at
    # Backoff: ~1 s, then ~2 s, with jitter. The minimums are the point; a loaded machine only adds to them.
    assert 0.4 <= first_gap <= 1.8 + LATE, (first_gap, second_gap)
    assert 0.9 <= second_gap <= 3.6 + LATE, (first_gap, second_gap)
    verify(tries, srv.key, srv.secret)


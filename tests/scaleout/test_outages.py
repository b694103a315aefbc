"""Outages with a contract (docs/scale-out.md, "Outages"), through real `tidings serve` processes.

Redis paused (SIGSTOP, a private redis-server) for 12 s while events are triggered through node 1 of two:
every event answered 200 reaches node 2's subscriber exactly once and in order once Redis is back; what
cannot be done without Redis (a cache channel's write, `info` figures, queries) answers 503 quickly and
delivers nothing; nobody is declared dead afterwards.

PostgreSQL stopped or paused (a private cluster): apps read before are served from their last copy, so the
HTTP API and new connections keep working.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed

from tests.scaleout.conftest import Cluster
from tests.support.outage import PrivatePostgres, PrivateRedis
from tests.support.server import RunningServer, start_server
from tests.support.ws_client import WsClient
from tidings.channels.httpauth import sign_params

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

MakeCluster = Callable[..., Cluster]

HTTP_TIMEOUT = 30  # the client's own: a hang fails the latency assertion instead of the suite
LATENCY_BOUND = 15.0  # no request may take longer, Redis paused or not
EVENTS, SPACING = 50, 0.4  # 50 events over 20 s
PAUSE_AT, PAUSE_FOR = 4.0, 12.0


@dataclass
class Answer:
    status: int | None  # None: no answer within HTTP_TIMEOUT
    body: Any
    took: float


def call(server: RunningServer, method: str, path: str, body: Any = None,
         params: dict[str, str] | None = None) -> Answer:
    """One signed Channels HTTP API request; `{app}` in the path is the app id."""
    path = path.replace("{app}", server.app_id)
    raw = b"" if body is None else json.dumps(body).encode()
    signed = sign_params(server.key, server.secret, method, path, params or {}, raw)
    started = time.monotonic()
    try:
        r = requests.request(method, server.http_url + path, params=signed, data=raw or None,
                             headers={"Content-Type": "application/json"} if raw else {}, timeout=HTTP_TIMEOUT)
    except requests.Timeout:
        return Answer(None, None, time.monotonic() - started)
    try:
        parsed = r.json()
    except ValueError:
        parsed = r.text
    return Answer(r.status_code, parsed, time.monotonic() - started)


def trigger(server: RunningServer, channel: str, name: str, data: str, **extra: Any) -> Answer:
    return call(server, "POST", "/apps/{app}/events", {"name": name, "channel": channel, "data": data, **extra})


def assert_503(answer: Answer, what: str) -> None:
    assert answer.status == 503, f"{what}: {answer}"
    assert isinstance(answer.body, dict) and isinstance(answer.body.get("error"), str), f"{what}: {answer}"
    assert answer.took < LATENCY_BOUND, f"{what} took {answer.took:.1f}s"


class Collector:
    """Every frame a client receives, read in the background."""

    def __init__(self, client: WsClient) -> None:
        self.client = client
        self.frames: list[dict[str, Any]] = []
        self.arrived: list[float] = []  # time.monotonic() of each frame
        self.closed: str | None = None
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            async for raw in self.client.ws:
                self.frames.append(json.loads(raw))
                self.arrived.append(time.monotonic())
        except ConnectionClosed as exc:
            self.closed = str(exc)
        else:
            self.closed = "closed"

    def events(self, channel: str, name: str) -> list[str]:
        return [f["data"] for f in self.frames if f.get("event") == name and f.get("channel") == channel]

    def arrival(self, channel: str, name: str, data: str) -> float:
        return next(t for f, t in zip(self.frames, self.arrived, strict=True)
                    if f.get("event") == name and f.get("channel") == channel and f.get("data") == data)

    async def close(self) -> None:
        self.task.cancel()
        await self.client.close()


async def subscribed(server: RunningServer, *channels: str) -> Collector:
    client = await WsClient.connect(server.ws_url(), timeout=10)
    for channel in channels:
        await client.send_subscribe(channel)
        # Skipping what comes first: subscription_count frames of the channels subscribed before.
        await client.wait_for("pusher_internal:subscription_succeeded", channel=channel, timeout=10)
    return Collector(client)


async def until(predicate: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis.running() as server:
        yield server


async def test_a_redis_pause_loses_no_event_answered_200(
    make_cluster: MakeCluster, private_redis: PrivateRedis
) -> None:
    cluster = make_cluster(2, TIDINGS_REDIS_URL=private_redis.url)
    node1, node2 = cluster.servers
    tag = secrets.token_hex(4)
    ticks, cache, info, presence = f"outage-{tag}", f"cache-outage-{tag}", f"info-{tag}", f"presence-{tag}"
    far = await subscribed(node2, ticks, cache, info)
    near = await subscribed(node1, ticks, cache, info)
    collectors = (far, near)
    try:
        # The bus works, both ways of delivery are in place.
        assert trigger(node1, ticks, "warm", "w").status == 200
        await until(lambda: far.events(ticks, "warm") == ["w"], "the warm-up event on node 2", 10)

        answers: dict[int, Answer] = {}
        sent: dict[int, float] = {}
        probes: dict[str, Answer] = {}

        def run_ticks() -> None:
            start = time.monotonic()
            for i in range(EVENTS):
                time.sleep(max(0.0, start + i * SPACING - time.monotonic()))
                sent[i] = time.monotonic()
                answers[i] = trigger(node1, ticks, "tick", str(i))

        def run_probes() -> None:
            calls = {
                "cache trigger": lambda: trigger(node1, cache, "probe", "cache"),
                "trigger with info": lambda: trigger(node1, info, "probe", "info", info="subscription_count"),
                "GET /channels": lambda: call(node1, "GET", "/apps/{app}/channels"),
                "GET /channels/{name}": lambda: call(node1, "GET", f"/apps/{{app}}/channels/{info}",
                                                     params={"info": "subscription_count"}),
                "GET users": lambda: call(node1, "GET", f"/apps/{{app}}/channels/{presence}/users"),
                "GET users, not presence": lambda: call(node1, "GET", f"/apps/{{app}}/channels/{ticks}/users"),
            }
            with ThreadPoolExecutor(len(calls)) as pool:
                futures = {name: pool.submit(fn) for name, fn in calls.items()}
                probes.update({name: f.result() for name, f in futures.items()})

        ticking = asyncio.get_running_loop().run_in_executor(None, run_ticks)
        await asyncio.sleep(PAUSE_AT)
        private_redis.pause()
        paused_at = time.monotonic()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(run_probes)
        await asyncio.sleep(max(0.0, paused_at + PAUSE_FOR - time.monotonic()))
        private_redis.resume()
        resumed_at = time.monotonic()
        await asyncio.wait_for(ticking, 120)

        # -- what was answered --
        statuses = [answers[i].status for i in range(EVENTS)]
        assert set(statuses) <= {200, 503}, statuses
        for i in range(EVENTS):
            if answers[i].status == 503:
                assert_503(answers[i], f"tick {i}")
        slowest = max(a.took for a in answers.values())
        assert slowest < LATENCY_BOUND, f"a trigger took {slowest:.1f}s"
        ok = [str(i) for i in range(EVENTS) if answers[i].status == 200]
        print(f"\n{len(ok)} of {EVENTS} answered 200, {statuses.count(503)} 503; slowest trigger "
              f"{slowest:.2f}s; probes: " + ", ".join(f"{n} {a.status} in {a.took:.2f}s" for n, a in probes.items()))

        for name in ("cache trigger", "trigger with info", "GET /channels", "GET /channels/{name}", "GET users"):
            assert_503(probes[name], name)
        assert probes["GET users, not presence"].status == 400, probes  # checked before asking Redis

        # -- what was delivered: each event answered 200 exactly once, in order, on both nodes --
        await until(lambda: far.events(ticks, "tick") == ok, "node 2 to receive every event answered 200", 30)
        held = [i for i in range(EVENTS) if answers[i].status == 200 and paused_at <= sent[i] < resumed_at]
        assert len(held) >= 20, held  # the pause did hold events up
        late = max(far.arrival(ticks, "tick", str(i)) for i in held) - resumed_at
        print(f"node 2 had the {len(held)} events triggered during the pause {late:.2f}s after Redis resumed")
        await asyncio.sleep(2.0)  # duplicates, if any, would have arrived by now
        assert far.events(ticks, "tick") == ok
        assert near.events(ticks, "tick") == ok
        for c in collectors:
            assert c.events(cache, "probe") == [] and c.events(info, "probe") == [], c.frames  # refused: nowhere

        # -- and everything works again, no node was declared dead, no client was dropped --
        again = trigger(node1, info, "after", "a", info="subscription_count")
        assert again.status == 200 and again.body == {"channels": {info: {"subscription_count": 2}}}, again
        assert trigger(node1, cache, "after", "c").status == 200
        for c in collectors:
            await until(lambda c=c: c.events(info, "after") == ["a"] and c.events(cache, "after") == ["c"],
                        "the events after the outage", 15)
        assert call(node1, "GET", "/apps/{app}/channels").status == 200
        for c in collectors:
            assert c.closed is None, c.closed
        for server in cluster.servers:
            assert "is dead" not in server.log() and "declared dead" not in server.log()
    finally:
        private_redis.resume()
        for c in collectors:
            await c.close()


# -- PostgreSQL ---------------------------------------------------------------------------------------


@pytest.fixture
def pg_server(tmp_path: Path) -> Iterator[tuple[PrivatePostgres, RunningServer]]:
    with PrivatePostgres.running() as pg:
        server = start_server(tmp_path, env={
            "TIDINGS_DATABASE_URL": pg.url, "TIDINGS_APP_CACHE_TTL": "1", "TIDINGS_DELIVERY_WORKERS": "0",
        })
        try:
            yield pg, server
        finally:
            pg.resume()  # a paused database would hold up the server's shutdown
            server.stop()


async def check_served_without_database(server: RunningServer, channel: str) -> None:
    """After the app was read once: an HTTP trigger reaches an open subscriber and a new connection works."""
    ok = await asyncio.to_thread(trigger, server, channel, "during", "d")
    assert ok.status == 200 and ok.took < LATENCY_BOUND, ok
    fresh = await WsClient.connect(server.ws_url(), timeout=10)  # pusher:connection_established
    try:
        await fresh.subscribe(channel)
        second = await asyncio.to_thread(trigger, server, channel, "during", "d2")
        assert second.status == 200, second
        frame = await fresh.wait_for("during", channel=channel, timeout=10)
        assert frame["data"] == "d2"
    finally:
        await fresh.close()


@pytest.mark.parametrize("outage", ["stopped", "paused"])
async def test_apps_are_served_from_their_last_copy_while_postgres_is_down(
    pg_server: tuple[PrivatePostgres, RunningServer], outage: str
) -> None:
    pg, server = pg_server
    channel = f"pg-{secrets.token_hex(4)}"
    client = await WsClient.connect(server.ws_url(), timeout=10)  # reads the app by key
    try:
        await client.subscribe(channel)
        before = await asyncio.to_thread(trigger, server, channel, "before", "b")  # reads it by id
        assert before.status == 200, before
        await client.wait_for("before", channel=channel, timeout=10)

        if outage == "stopped":
            pg.stop()
        else:
            pg.pause()
        await asyncio.sleep(2.5)  # past app_cache_ttl (1 s): today, the next read would go to the database
        await check_served_without_database(server, channel)
        assert (await client.wait_for("during", channel=channel, timeout=10))["data"] == "d"
        for _ in range(10):  # more requests: still one warning per key for this outage
            assert (await asyncio.to_thread(trigger, server, channel, "more", "m")).status == 200
        warnings = [line for line in server.log().splitlines() if "serving the copy read" in line]
        print(f"\n{outage}: {warnings}")
        assert 1 <= len(warnings) <= 2, warnings  # by id, by key
    finally:
        await client.close()


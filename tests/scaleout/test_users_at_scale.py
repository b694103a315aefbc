"""Users at scale on two real nodes sharing Redis (docs/users.md): live watchlists and counts-only presence in
pusher-js, who is online, the connection quotas and session lifetimes across nodes, and a graceful drain of
1,000 connections measured from the node they move to. HTTP calls are made by the `pusher` Python SDK."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from typing import Any

import pusher
import pytest
import requests

from tests.compat.nodejs import NodeScript
from tests.scaleout.conftest import Cluster
from tests.support import users_sdk
from tests.support.server import RunningServer
from tests.support.user_auth import sign_user_data
from tests.support.ws_client import WsClient, close_all
from tests.web.channels.conftest import cli

pytestmark = pytest.mark.slow

POLL = 30.0


def sdk_on(server: RunningServer) -> pusher.Pusher:
    return pusher.Pusher(app_id=server.app_id, key=server.key, secret=server.secret, host=server.host,
                         port=server.port, ssl=False, timeout=10)


def set_limits(cluster: Cluster, *limits: str) -> None:
    args = [arg for limit in limits for arg in ("--limit", limit)]
    cli(cluster.servers[0], "apps", "update", cluster.servers[0].app_id, *args)


async def signin(client: WsClient, server: RunningServer, user: dict[str, Any]) -> None:
    assert client.socket_id is not None
    user_data = json.dumps(user)
    auth = sign_user_data(server.key, server.secret, client.socket_id, user_data)
    await client.send("pusher:signin", {"auth": auth, "user_data": user_data})
    await client.expect("pusher:signin_success")


def poll(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + POLL
    while not (got := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return got


# -- pusher-js ---------------------------------------------------------------------------------------------


def test_a_watchlist_change_reaches_both_connections_on_different_nodes(
    make_cluster: Callable[..., Cluster], run_cluster_node: Callable[..., NodeScript]
) -> None:
    cluster = make_cluster(3)
    proc = run_cluster_node(cluster, "scaleout_watchlist_live.mjs", timeout_ms=60_000)
    ready = proc.wait_for("ready", timeout=40)
    # Through node 2, where alice has no connection.
    assert users_sdk.replace_watchlist(sdk_on(cluster.servers[2]), ready["alice"], [ready["carol"], ready["dan"]]) == {}
    proc.finish(timeout=60)
    seen = proc.one("seen")["seen"]
    for name in ("alice0", "alice1"):
        assert seen[name][0] == {"name": "online", "ids": [ready["bob"]]}
        assert sorted(map(json.dumps, seen[name][1:3])) == sorted(
            map(json.dumps, [{"name": "online", "ids": [ready["dan"]]}, {"name": "offline", "ids": [ready["carol"]]}])
        )
        assert seen[name][3:] == [{"name": "online", "ids": [ready["carol"]]}]  # nothing about bob any more
        signins = [f for f in proc.frames(name, "out") if f.get("event") == "pusher:signin"]
        assert len(signins) == 1, signins  # no new sign-in


@pytest.mark.timeout(400)
def test_a_2000_member_counts_only_presence_channel_in_pusher_js(
    make_cluster: Callable[..., Cluster], run_cluster_node: Callable[..., NodeScript]
) -> None:
    cluster = make_cluster(2)
    set_limits(cluster, "presence_counts_only_above=100", "max_presence_members=5000")
    proc = run_cluster_node(cluster, "scaleout_presence_counts.mjs", timeout_ms=240_000, MEMBERS="2000")
    proc.finish(timeout=260)
    joined = proc.one("observer_joined")
    assert joined["count"] == 2001  # pusher-js members.count: every member and the observer
    assert len(joined["ids"]) == 1 and joined["me"]["id"] == joined["ids"][0]  # no roster: itself only
    result = proc.one("result")
    assert result["subscriptionCount"] == result["expected"] == 1986
    assert (result["added"], result["removed"]) == (0, 0)
    assert result["ids"] == joined["ids"]
    # The observer's frames: one subscription_succeeded without a roster, no member events at all.
    frames = proc.frames("observer")
    assert not [f for f in frames if f.get("event", "").startswith("pusher_internal:member_")]
    assert sum(f.get("event") == "pusher_internal:subscription_count" for f in frames) == result["counts"] >= 1
    page = proc.one("page")  # GET .../channels/{name}/users?limit=1000 by the Node SDK, while all are there
    assert (page["status"], page["n"], page["total"], page["next"]) == (200, 1000, 1986, page["last"])


def test_a_session_ends_on_every_connection_of_the_user(
    make_cluster: Callable[..., Cluster], run_cluster_node: Callable[..., NodeScript]
) -> None:
    cluster = make_cluster(2)
    proc = run_cluster_node(cluster, "scaleout_session_expiry.mjs", timeout_ms=40_000)
    proc.finish(timeout=45)
    states = proc.one("states")
    assert (states["carol0"], states["carol1"], states["dave"]) == ("disconnected", "disconnected", "connected")
    codes = [c["code"] for c in proc.closes()]
    assert codes.count(4009) == 2, codes
    opened = proc.events("ws_open")
    assert len(opened) == 3  # no reconnect after 4009


# -- the users API and quotas across nodes --------------------------------------------------------------------


async def test_online_users_across_nodes_with_pagination(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(2)
    a, b = cluster.servers
    clients: list[WsClient] = []
    ids = [f"user-{i:02d}" for i in range(30)]
    try:
        for i, uid in enumerate(ids):
            node = cluster.servers[i % 2]
            client = await WsClient.connect(node.ws_url())
            clients.append(client)
            await signin(client, node, {"id": uid})
        both = await WsClient.connect(b.ws_url())
        clients.append(both)
        await signin(both, b, {"id": ids[0]})  # user-00 is on both nodes
        got, total, pages = await asyncio.to_thread(users_sdk.all_online_users, sdk_on(a), 7)
        assert got == ids and total == 30 and pages == 5
        one = await asyncio.to_thread(users_sdk.user, sdk_on(a), ids[0])
        assert one["online"] and one["connections"] == 2
        await close_all([*clients[1::2], both])  # every connection on node b goes; node a's stay
        want = ids[0::2]

        def left_only_node_a() -> bool:
            return users_sdk.all_online_users(sdk_on(b), 4)[0] == want

        await asyncio.to_thread(poll, left_only_node_a, "node b's users gone from the list")
        one = await asyncio.to_thread(users_sdk.user, sdk_on(b), ids[0])
        assert one["connections"] == 1
    finally:
        await close_all(clients)


async def test_the_connection_quotas_hold_across_nodes(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(2)
    a, b = cluster.servers
    set_limits(cluster, "max_connections=3", "max_connections_per_user=2")
    clients = [await WsClient.connect(node.ws_url()) for node in (a, a, b)]
    try:
        for node in (a, b):  # the fourth is refused, whichever node it reaches
            refused = await WsClient.open(node.ws_url())
            await refused.expect_error(4004)
            await refused.expect_close(4004)
        # A user's third connection closes their oldest, on the other node.
        await signin(clients[0], a, {"id": "bob"})
        await signin(clients[2], b, {"id": "bob"})
        await signin(clients[1], a, {"id": "bob"})
        error = await clients[0].expect_error(4004)
        assert "oldest" in error["message"]
        await clients[0].expect_close(4004)
        # That closed connection is given back to the quota: one more may open (on node b).
        deadline = time.monotonic() + POLL
        while True:
            late = await WsClient.open(b.ws_url())
            first = await late.recv()
            if first["event"] == "pusher:connection_established":
                late.socket_id = json.loads(first["data"])["socket_id"]
                clients.append(late)
                break
            await late.close()
            assert time.monotonic() < deadline, first
            await asyncio.sleep(0.2)
        await signin(late, b, {"id": "bob"})  # bob's oldest now is clients[2], on node b
        await clients[2].expect_error(4004)
        await clients[2].expect_close(4004)
        assert (await clients[1].ping())["event"] == "pusher:pong"
    finally:
        await close_all(clients)


# -- graceful drain -------------------------------------------------------------------------------------------


async def test_a_drain_of_1000_connections_is_spread_over_the_window(make_cluster: Callable[..., Cluster]) -> None:
    """1,000 connections on node a, each reconnecting to node b when closed (what a load balancer does):
    SIGTERM on a closes them with 4200 over TIDINGS_DRAIN_SECONDS=5, b sees the reconnects at an even rate,
    a answers /ready 503 at once, and a presence member that moves sees no member_removed/added on b."""
    window = 5.0
    cluster = make_cluster(2, TIDINGS_DRAIN_SECONDS=str(window))
    a, b = cluster.servers
    n = 1000
    channel = "presence-drain"
    closes: list[float] = []
    arrivals: list[float] = []
    codes: list[int | None] = []
    moved: list[WsClient] = []

    async def subscribe_member(client: WsClient) -> None:
        data = json.dumps({"user_id": "mover", "user_info": {}})
        await client.subscribe(channel, auth=client.presence_auth(a.key, a.secret, channel, data), channel_data=data)

    async def one(client: WsClient, member: bool) -> None:
        await client.expect_close(4200, timeout=120)
        closes.append(time.monotonic())
        codes.append(client.close_code)
        again = await WsClient.connect(b.ws_url(), timeout=30)
        arrivals.append(time.monotonic())
        moved.append(again)
        if member:
            await subscribe_member(again)

    clients = []
    for _ in range(0, n, 100):
        clients += await asyncio.gather(*(WsClient.connect(a.ws_url(), timeout=30) for _i in range(100)))
    await subscribe_member(clients[0])
    watcher = await WsClient.connect(b.ws_url())
    data = json.dumps({"user_id": "watcher", "user_info": {}})
    joined = await watcher.subscribe(channel, auth=watcher.presence_auth(a.key, a.secret, channel, data),
                                     channel_data=data)
    assert sorted(json.loads(joined["data"])["presence"]["ids"]) == ["mover", "watcher"]
    tasks = [asyncio.create_task(one(c, i == 0)) for i, c in enumerate(clients)]
    try:
        sent = time.monotonic()
        a.proc.send_signal(signal.SIGTERM)
        ready = await asyncio.to_thread(requests.get, f"{a.http_url}/ready", timeout=10)
        assert ready.status_code == 503 and time.monotonic() - sent < 3  # not ready at once, still answering
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
        assert set(codes) == {4200}
        span = max(closes) - min(closes)
        # Spread: all at once would be well under a second; an even drain spans most of the window.
        assert span >= 0.6 * window, span
        buckets: dict[int, int] = {}
        for t in arrivals:
            buckets[int((t - sent) * 2)] = buckets.get(int((t - sent) * 2), 0) + 1
        busiest = max(buckets.values())
        # No stampede: all at once puts every reconnect in one half-second. An even drain puts 10% in each; a
        # machine busy with other tests can stall either process and bunch some up (seen: 25% in one), so the
        # bound is half, which only a drain that is not spread reaches. The rate is printed for the record.
        assert busiest <= 0.5 * n, buckets
        rate = {f"{k / 2:.1f}s": v for k, v in sorted(buckets.items())}
        print(f"drain of {n} over {window}s: closes spanned {span:.2f}s; reconnects on b per 0.5 s: {rate}")
        # The presence member moved within the hold: the watcher on b saw it neither leave nor join.
        seen = await collect(watcher, 4.5)
        member_events = [f for f in seen if f.get("event", "").startswith("pusher_internal:member_")]
        assert member_events == [], member_events
        assert a.proc.wait(60) == 0
    finally:
        for task in tasks:
            task.cancel()
        await close_all([*moved, watcher])


async def collect(client: WsClient, seconds: float) -> list[dict[str, Any]]:
    """Every frame the client gets during `seconds`."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frames.append(await client.recv(timeout=left))
        except AssertionError:
            break
    return frames

"""Three real `tidings serve` nodes on one PostgreSQL database and one Redis, driven by pusher-js clients
connected to different nodes and the official Node server SDK talking to yet another node."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pusher
import pytest

from tests.compat.nodejs import NodeScript
from tests.scaleout.conftest import DEAD_AFTER, HEARTBEAT, Cluster
from tests.support.server import tidings_cli
from tests.support.webhook_sink import WebhookSink

pytestmark = [pytest.mark.compat, pytest.mark.slow]

MakeCluster = Callable[..., Cluster]
RunNode = Callable[..., NodeScript]


def test_channels_span_the_cluster(make_cluster: MakeCluster, run_cluster_node: RunNode) -> None:
    cluster = make_cluster(3, TIDINGS_APP_CACHE_TTL="0")
    with WebhookSink() as sink:
        first = cluster.servers[0]
        added = tidings_cli("apps", "webhooks", "add", first.app_id, sink.url, data_dir=first.data_dir,
                            env={"TIDINGS_DATABASE_URL": cluster.database_url})
        assert added.returncode == 0, added.stderr
        script = run_cluster_node(cluster, "scaleout_channels.mjs")
        script.finish(timeout=30)
        _check_channels(script)
        # Webhooks: each transition once, from the one node that made it (the clients have all left now).
        pres = _presence_channel(script)
        sink.wait_event("channel_vacated", pres, timeout=10)
        time.sleep(1.0)  # duplicates, if any, would have arrived
        names = sorted((e["name"], e.get("user_id", "")) for _, e in sink.events(channel=pres))
        assert names.count(("channel_occupied", "")) == 1, names
        assert names.count(("channel_vacated", "")) == 1, names
        for user in ("alice", "bob", "carol"):
            assert names.count(("member_added", user)) == 1, names
            assert names.count(("member_removed", user)) == 1, names
        assert names.count(("client_event", "alice")) == 1, names


def _presence_channel(script: NodeScript) -> str:
    frames = script.frames("bob")
    return next(str(f["channel"]) for f in frames if str(f.get("channel", "")).startswith("presence-room-"))


def _check_channels(script: NodeScript) -> None:
    members = script.events("members")
    assert members[0] == {"event": "members", "alice": ["alice", "bob", "carol"], "bob": ["alice", "bob", "carol"],
                          "carol": ["alice", "bob", "carol"]}, script.transcript()
    assert members[1]["alice2"] == ["alice", "bob", "carol"]
    # member_added once per user, cluster-wide: alice saw bob and carol, bob saw carol, nobody saw alice twice.
    assert script.one("added_frames") == {"event": "added_frames", "alice": 2, "bob": 1, "carol": 0}

    ce = script.one("client_event")
    for who in ("bob", "carol", "alice2"):  # alice2 is the sender's user on another socket: it gets it too
        assert ce[who] == {"data": {"from": "alice"}, "user_id": "alice"}, ce

    assert script.one("trigger")["status"] == 200
    assert script.one("news")["received"] == [{"n": 1}] * 3
    assert script.one("news_to_carol")["received"] == []  # socket_id excluded, though on another node
    assert script.one("counts") == {"event": "counts", "bob": 2, "carol": 2}
    assert script.one("cached")["data"] == {"p": 42}

    info = script.one("channel_info")
    assert info["status"] == 200 and info["body"] == {"occupied": True, "user_count": 3, "subscription_count": 4}
    users = script.one("users")["body"]["users"]
    assert sorted(u["id"] for u in users) == ["alice", "bob", "carol"]
    channels = script.one("channels")["body"]["channels"]
    assert list(channels.values()) == [{"user_count": 3}], channels
    assert script.one("counted_info")["body"] == {"occupied": True, "subscription_count": 2}

    assert script.one("removed_after_first") == {"event": "removed_after_first", "bob": 0, "carol": 0}
    last = script.one("removed_after_last")
    assert (last["bob"], last["carol"], last["bob_members"]) == (1, 1, ["bob", "carol"])


def test_users_span_the_cluster(make_cluster: MakeCluster, run_cluster_node: RunNode) -> None:
    cluster = make_cluster(3)
    script = run_cluster_node(cluster, "scaleout_users.mjs")
    script.finish(timeout=30)
    snaps = {s["after"]: s["seen"] for s in script.events("watchlist_seen")}
    alice = script.events("signed_in", client="alice1")[0]["user_data"]["id"]
    assert snaps["watcher signed in"] == [{"name": "offline", "ids": [alice]}]
    online = [{"name": "offline", "ids": [alice]}, {"name": "online", "ids": [alice]}]
    assert snaps["alice on two nodes"] == online  # the second connection, on another node, says nothing
    assert snaps["alice1 closed"] == online  # still connected on node 1
    assert snaps["alice2 closed"] == [*online, {"name": "offline", "ids": [alice]}]

    assert script.one("send")["status"] == 200
    received = script.one("received")
    assert received["alice1"] == received["alice2"] == [{"name": "hello", "data": {"n": 1}}]

    assert script.one("terminate")["status"] == 200
    states = script.one("states")
    assert states["dave1"] == states["dave2"] == "disconnected"
    assert states["alice1"] == states["alice2"] == "connected"
    dave_closes = [c["code"] for c in script.closes()]
    assert dave_closes.count(4009) == 2, script.transcript()


def test_a_killed_node_is_cleaned_up_within_the_bound(
    make_cluster: MakeCluster, run_cluster_node: RunNode
) -> None:
    cluster = make_cluster(3)
    script = run_cluster_node(cluster, "scaleout_kill.mjs", VICTIM_NODE="2", timeout_ms=30_000)
    ready = script.wait_for("ready", timeout=30)
    assert len(ready["members"]) == 2
    killed_at = time.monotonic()
    cluster.servers[2].proc.send_signal(signal.SIGKILL)
    # The script prints member_removed, offline and after in whatever order they come; wait_for keeps them all.
    script.wait_for("member_removed", timeout=DEAD_AFTER + 30)
    script.wait_for("offline", timeout=30)
    took = time.monotonic() - killed_at
    # Dead after DEAD_AFTER without a heartbeat; survivors look every HEARTBEAT: the bound. The slack is for a
    # loaded machine (three nodes, Node and another test on two cores) and still well under the default
    # node_dead_after (10 s), so a cluster that ignored its DEAD_AFTER would fail here.
    bound = DEAD_AFTER + 2 * HEARTBEAT + 4
    assert took <= bound, f"cleanup took {took:.1f}s, bound {bound}s"
    after = script.wait_for("after", timeout=30)
    assert after["members"] == sorted(m for m in ready["members"] if m != ready["victim"])
    # The survivors' shared state no longer counts the dead node's sockets.
    survivor = cluster.servers[0]
    sdk = pusher.Pusher(app_id=survivor.app_id, key=survivor.key, secret=survivor.secret,
                        host=survivor.host, port=survivor.port, ssl=False, timeout=5)
    assert [u["id"] for u in sdk.users_info(ready["channel"])["users"]] != [ready["victim"]]
    info = sdk.channel_info(ready["channel"], ["user_count", "subscription_count"])
    assert (info["user_count"], info["subscription_count"]) == (1, 1), info
    script.finish(timeout=10)

"""The offline user mailbox with the official SDKs (docs/user-first-delivery.md): `send_to_user` from the `pusher`
Python SDK to a bob who has no connection, then bob signs in with pusher-js 8.6.0 in Node and receives the events
through `pusher.user.bind`, in order, exactly once. Also across a server restart (a `tidings serve` process, its SQLite
file kept), across two nodes on Redis and PostgreSQL, and not at all once expired.

The Node side is tests/compat/node/user_mailbox.mjs; assertions are here, on what pusher-js handed to the
app and on the raw frames it received.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pusher
import pytest

from tests.compat.nodejs import NodeScript, ensure_node_modules
from tests.scaleout.conftest import Cluster
from tests.scaleout.conftest import make_cluster as make_cluster  # the scale-out fixture, used by name
from tests.support.inprocess import InProcessServer, start_inprocess
from tests.support.server import RunningServer, start_server
from tests.support.user_auth import UserAuthEndpoint

pytestmark = [pytest.mark.compat, pytest.mark.slow]

MAILBOX_ENV = {"TIDINGS_DEFAULT_APP_USER_MAILBOX": "600"}

Server = RunningServer | InProcessServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """This module's own server: the default app keeps events to offline users for 10 minutes."""
    srv = start_inprocess(tmp_path_factory.mktemp("tidings"), env=MAILBOX_ENV)
    yield srv
    srv.stop()


@pytest.fixture
def bob_signs_in() -> Iterator[Callable[..., NodeScript]]:
    """Run user_mailbox.mjs as `user` against `server` (its default app), with a user-auth endpoint of its own."""
    ensure_node_modules()
    with ExitStack() as stack:
        scripts: list[NodeScript] = []
        stack.callback(lambda: [s.kill() for s in scripts])

        def _run(server: Server, user: str, names: list[str], expect: int, live: str = "") -> NodeScript:
            auth = stack.enter_context(UserAuthEndpoint(server.app_id, server.key, server.secret))
            env = {
                "PUSHER_HOST": server.host, "PUSHER_PORT": str(server.port), "PUSHER_APP_ID": server.app_id,
                "PUSHER_KEY": server.key, "PUSHER_SECRET": server.secret,
                "USER_AUTH_ENDPOINT": auth.user_auth_url(), "USER_CHANNEL_AUTH_ENDPOINT": auth.channel_auth_url,
                "COMPAT_SUFFIX": uuid.uuid4().hex[:8],
                "MAILBOX_USER": user, "MAILBOX_EVENTS": ",".join(names), "MAILBOX_EXPECT": str(expect),
                "MAILBOX_LIVE": live,
            }
            script = NodeScript("user_mailbox.mjs", env, timeout_ms=30_000)
            scripts.append(script)
            return script

        yield _run


def sdk(server: Server) -> pusher.Pusher:
    return pusher.Pusher(app_id=server.app_id, key=server.key, secret=server.secret, host=server.host,
                         port=server.port, ssl=False, timeout=10)


def user_frames(script: NodeScript, user: str) -> list[dict[str, Any]]:
    """What bob's socket received on his user channel, in order (subscription_succeeded included)."""
    return [f for f in script.frames("bob") if f.get("channel") == f"#server-to-user-{user}"]


def assert_replayed_once(script: NodeScript, user: str, sent: list[tuple[str, Any]]) -> None:
    kept = script.one("kept")["events"]
    assert [(e["name"], e["data"]) for e in kept] == sent, script.transcript()
    frames = user_frames(script, user)
    # On the wire: subscription_succeeded, then each kept event once, in order, as JSON strings.
    assert frames[0]["event"] == "pusher_internal:subscription_succeeded", frames
    assert [(f["event"], json.loads(f["data"])) for f in frames[1:]] == sent, frames


def test_send_to_user_while_offline_then_pusher_js_signs_in(
    server: InProcessServer, bob_signs_in: Callable[..., NodeScript]
) -> None:
    bob, carol = f"bob-{uuid.uuid4().hex[:8]}", f"carol-{uuid.uuid4().hex[:8]}"
    client = sdk(server)
    sent = [("order-shipped", {"order": 1, "text": "Grüße"}), ("order-shipped", {"order": 2}), ("note", {"n": 3})]
    for name, data in sent:
        client.send_to_user(bob, name, data)
    client.send_to_user(carol, "note", {"for": "carol"})

    script = bob_signs_in(server, bob, ["order-shipped", "note", "live"], 3, live="live")
    script.wait_for("kept", timeout=30)
    client.send_to_user(bob, "live", {"now": True})  # bob is reachable now: live, not kept
    script.finish(timeout=30)
    kept = script.one("kept")["events"]
    assert [(e["name"], e["data"]) for e in kept] == sent, script.transcript()
    assert [(e["name"], e["data"]) for e in script.one("live")["events"]] == [("live", {"now": True})]
    frames = user_frames(script, bob)
    assert frames[0]["event"] == "pusher_internal:subscription_succeeded", frames
    assert [(f["event"], json.loads(f["data"])) for f in frames[1:]] == [*sent, ("live", {"now": True})], frames

    # Once: bob signing in again finds nothing; carol's event was kept for carol only.
    again = bob_signs_in(server, bob, ["order-shipped", "note"], 0)
    again.finish(timeout=30)
    assert again.one("kept")["events"] == [], again.transcript()
    assert [f["event"] for f in user_frames(again, bob)] == ["pusher_internal:subscription_succeeded"]
    for_carol = bob_signs_in(server, carol, ["note"], 1)
    for_carol.finish(timeout=30)
    assert_replayed_once(for_carol, carol, [("note", {"for": "carol"})])


def test_kept_events_survive_a_server_restart(tmp_path: Path, bob_signs_in: Callable[..., NodeScript]) -> None:
    bob = f"bob-{uuid.uuid4().hex[:8]}"
    data_dir = tmp_path / "data"  # the SQLite file lives here, kept between the two processes
    first = start_server(data_dir, env=MAILBOX_ENV)
    try:
        sdk(first).send_to_user(bob, "before-restart", {"n": 1})
        sdk(first).send_to_user(bob, "before-restart", {"n": 2})
    finally:
        assert first.stop() == 0, first.log()
    second = start_server(data_dir, env=MAILBOX_ENV)
    try:
        script = bob_signs_in(second, bob, ["before-restart"], 2)
        script.finish(timeout=30)
        assert_replayed_once(script, bob, [("before-restart", {"n": 1}), ("before-restart", {"n": 2})])
    finally:
        second.stop()


def test_expired_events_are_not_replayed(tmp_path: Path, bob_signs_in: Callable[..., NodeScript]) -> None:
    server = start_inprocess(tmp_path / "short", env={"TIDINGS_DEFAULT_APP_USER_MAILBOX": "1"})
    try:
        bob = f"bob-{uuid.uuid4().hex[:8]}"
        sdk(server).send_to_user(bob, "stale", {"n": 1})
        time.sleep(1.5)  # past the app's 1 s: the entry is expired whatever the machine's load
        sdk(server).send_to_user(bob, "fresh", {"n": 2})
        script = bob_signs_in(server, bob, ["stale", "fresh"], 1)
        script.finish(timeout=30)
        assert_replayed_once(script, bob, [("fresh", {"n": 2})])
    finally:
        server.stop()


def test_kept_on_one_node_replayed_on_another(
    make_cluster: Callable[..., Cluster], bob_signs_in: Callable[..., NodeScript]
) -> None:
    """Redis and PostgreSQL: sent through node 1 while bob has no connection anywhere, replayed when bob signs
    in on node 2; then an event through node 1 reaches bob on node 2 live, once."""
    cluster = make_cluster(2, **MAILBOX_ENV)
    one, two = cluster.servers
    bob = f"bob-{uuid.uuid4().hex[:8]}"
    sdk(one).send_to_user(bob, "kept", {"n": 1})
    sdk(one).send_to_user(bob, "kept", {"n": 2})
    script = bob_signs_in(two, bob, ["kept", "live"], 2, live="live")
    script.wait_for("kept", timeout=30)
    sdk(one).send_to_user(bob, "live", {"n": 3})
    script.finish(timeout=30)
    assert [(e["name"], e["data"]) for e in script.one("kept")["events"]] == [("kept", {"n": 1}), ("kept", {"n": 2})]
    assert [(e["name"], e["data"]) for e in script.one("live")["events"]] == [("live", {"n": 3})]
    frames = user_frames(script, bob)
    assert [(f["event"], json.loads(f["data"])) for f in frames[1:]] == [
        ("kept", {"n": 1}), ("kept", {"n": 2}), ("live", {"n": 3}),
    ], frames

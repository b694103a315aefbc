"""User-first routing across a cluster (docs/user-first-delivery.md): two `tidings serve` nodes on PostgreSQL and
Redis, alice signed in with pusher-js on node 2, the delivery worker on node 1 (or in a `tidings worker` process of its
own), the publish made with the official Beams Node SDK on node 1. The worker sees alice through Redis and sends the
event over the bus to node 2; signed out, she is pushed."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis

from tests.compat.beams.conftest import BeamsHttp, BeamsInstance
from tests.compat.beams.test_routing import finished_status, run_script, web_device_of
from tests.compat.nodejs import ensure_node_modules
from tests.scaleout.conftest import DEAD_AFTER, HEARTBEAT, REDIS_URL, drop_keys, require_redis
from tests.storage.postgres import temporary_database
from tests.support.push_endpoint import PushService
from tests.support.server import RunningServer, start_server
from tests.support.user_auth import UserAuthEndpoint

pytestmark = [pytest.mark.slow, pytest.mark.compat]


def count_of(prefix: str, app_id: str, channel: str) -> int:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=3)
    try:
        return int(client.hget(f"{prefix}:a:{app_id}:counts", channel) or 0)
    finally:
        client.close()


@pytest.fixture
def push_service() -> Iterator[PushService]:
    with PushService() as service:
        yield service


@pytest.mark.parametrize("worker", ["in node 1", "tidings worker"])
def test_alice_on_node_2_gets_the_event_routed_by_a_worker_elsewhere(
    tmp_path: Path, push_service: PushService, worker: str
) -> None:
    require_redis()
    ensure_node_modules()
    instance = BeamsInstance.new()
    prefix = f"tidings-routing-{secrets.token_hex(4)}"
    with ExitStack() as stack:
        url = stack.enter_context(temporary_database("tidings_routing"))
        stack.callback(drop_keys, prefix)
        env = {
            **instance.env,
            "TIDINGS_DEFAULT_APP_BEAMS_INSTANCE": instance.id,
            "TIDINGS_DATABASE_URL": url,
            "TIDINGS_REDIS_URL": REDIS_URL,
            "TIDINGS_REDIS_PREFIX": prefix,
            "TIDINGS_NODE_HEARTBEAT_INTERVAL": str(HEARTBEAT),
            "TIDINGS_NODE_DEAD_AFTER": str(DEAD_AFTER),
        }
        servers: list[RunningServer] = []
        stack.callback(lambda: [s.stop() for s in servers])
        node1_workers = "1" if worker == "in node 1" else "0"
        servers.append(start_server(tmp_path / "node1", env={**env, "TIDINGS_DELIVERY_WORKERS": node1_workers}))
        servers.append(start_server(tmp_path / "node2", env={**env, "TIDINGS_DELIVERY_WORKERS": "0"}))
        node1, node2 = servers
        if worker == "tidings worker":
            worker_env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
            worker_env.update(
                TIDINGS_DATABASE_URL=url, TIDINGS_REDIS_URL=REDIS_URL, TIDINGS_REDIS_PREFIX=prefix,
                TIDINGS_PUSH_ALLOW_PRIVATE_NETWORKS="true", TIDINGS_LOG_LEVEL="info",
            )
            log = (tmp_path / "worker.log").open("wb")
            stack.callback(log.close)
            proc = subprocess.Popen([sys.executable, "-m", "tidings", "worker"], stdout=log,
                                    stderr=subprocess.STDOUT, env=worker_env)
            stack.callback(lambda: (proc.terminate(), proc.wait(30)))
        auth = stack.enter_context(UserAuthEndpoint(node1.app_id, node1.key, node1.secret))

        api = BeamsHttp(node1.http_url, instance)
        alice = f"alice-{uuid.uuid4().hex[:8]}"
        subscription = web_device_of(api, push_service, instance, alice)

        script = run_script(node2.port, node1.port, node1, instance, auth, alice, tabs=1)
        assert script.one("received")["tab1"] == [
            {"name": "order-shipped", "data": {"order": 42, "items": ["book"]}}
        ], script.transcript()
        status = finished_status(api, script.one("published")["value"]["publishId"])
        assert status["routing"] == {"socket": 1, "push": 0, "pending": 0}, status
        assert push_service.received(subscription) == []

        deadline = time.monotonic() + 30
        while count_of(prefix, node1.app_id, f"#server-to-user-{alice}"):
            assert time.monotonic() < deadline, "alice's closed connection still counted in Redis"
            time.sleep(0.05)
        script = run_script(node2.port, node1.port, node1, instance, auth, alice, tabs=0)
        push_service.wait_for(subscription, timeout=30)
        status = finished_status(api, script.one("published")["value"]["publishId"])
        assert status["routing"] == {"socket": 0, "push": 1, "pending": 0}, status

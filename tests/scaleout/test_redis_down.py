"""A node whose Redis goes away: refused at start, not ready while Redis is down, and after Redis comes
back empty (a restart), it drops its clients so that they reconnect and rebuild the shared state.

These tests run their own `redis-server` (tests/support/outage.py, the real binary on a free port) so that they
can kill it.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.outage import PrivateRedis
from tests.support.server import RunningServer, free_port, start_server
from tests.support.ws_client import WsClient

pytestmark = pytest.mark.slow  # `tidings serve` processes and a private Redis server


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.kill()


def ready_status(server: RunningServer) -> int:
    try:
        with urllib.request.urlopen(f"{server.http_url}/ready", timeout=3) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def until(predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_node_without_its_redis_does_not_start(tmp_path: Path) -> None:
    srv = start_server(tmp_path, env={"TIDINGS_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}, wait=False)
    try:
        srv.proc.wait(30)
        assert srv.proc.returncode != 0
        assert "cannot start the Redis adapter: Redis is not reachable" in srv.log()
    finally:
        srv.stop()


async def test_redis_down_then_back(tmp_path: Path, private_redis: PrivateRedis) -> None:
    srv = start_server(tmp_path, env={
        "TIDINGS_REDIS_URL": private_redis.url, "TIDINGS_NODE_HEARTBEAT_INTERVAL": "0.3",
        "TIDINGS_NODE_DEAD_AFTER": "2",
    })
    try:
        client = await WsClient.connect(srv.ws_url())
        await client.subscribe("news")
        assert ready_status(srv) == 200

        private_redis.kill()
        until(lambda: ready_status(srv) == 503, "/ready 503 with Redis down")
        refused = await client.subscribe_error("sport")
        assert (refused["type"], refused["status"]) == ("ServerError", 503), refused

        # Back, but empty (a restart): the node's share is gone, so it drops its clients (4200, reconnect).
        private_redis.start()
        until(lambda: ready_status(srv) == 200, "/ready 200 with Redis back")
        await client.expect_close(4200, timeout=10)
    finally:
        srv.stop()

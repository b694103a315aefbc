"""Several real `tidings serve` processes sharing one PostgreSQL database and one Redis: a cluster.

PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are real and required: if either is down the tests
fail saying so. Each cluster gets a temporary database and its own Redis key prefix, removed afterwards.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.compat.nodejs import NodeScript, ensure_node_modules
from tests.storage.postgres import temporary_database
from tests.support.auth_endpoint import AuthEndpoint
from tests.support.server import RunningServer, start_server
from tests.support.user_auth import UserAuthEndpoint

REDIS_URL = "redis://127.0.0.1:6379/0"
HEARTBEAT = 0.5
DEAD_AFTER = 3.0


@dataclass
class Cluster:
    servers: list[RunningServer]
    prefix: str
    database_url: str

    @property
    def ports(self) -> str:
        return ",".join(str(s.port) for s in self.servers)


def require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except (redis.RedisError, OSError) as exc:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable (the scale-out tests need it): {exc}", pytrace=False)


def drop_keys(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def start_cluster(cluster: Cluster, tmp: Path, n: int, extra: dict[str, str] | None = None) -> None:
    env = {
        "TIDINGS_DATABASE_URL": cluster.database_url,
        "TIDINGS_REDIS_URL": REDIS_URL,
        "TIDINGS_REDIS_PREFIX": cluster.prefix,
        "TIDINGS_NODE_HEARTBEAT_INTERVAL": str(HEARTBEAT),
        "TIDINGS_NODE_DEAD_AFTER": str(DEAD_AFTER),
        "TIDINGS_DEFAULT_APP_SUBSCRIPTION_COUNT": "true",
        "TIDINGS_DELIVERY_WORKERS": "0",
        **(extra or {}),
    }
    # One after the other: the first one migrates the fresh database and creates the default app.
    for i in range(n):
        cluster.servers.append(start_server(tmp / f"node{i}", env=env))


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """Start clusters of n nodes (extra keyword arguments are TIDINGS_* env); all are stopped afterwards,
    their databases dropped and their Redis keys deleted."""
    require_redis()
    with ExitStack() as stack:
        count = 0

        def _make(n: int = 3, **extra: str) -> Cluster:
            nonlocal count
            url = stack.enter_context(temporary_database("tidings_scaleout"))
            prefix = f"tidings-scaleout-{secrets.token_hex(4)}"
            stack.callback(drop_keys, prefix)
            cluster = Cluster([], prefix, url)
            stack.callback(lambda: [server.stop() for server in cluster.servers])
            start_cluster(cluster, tmp_path / f"c{count}", n, extra)
            count += 1
            return cluster

        yield _make


@pytest.fixture
def run_cluster_node(tmp_path: Path) -> Iterator[Callable[..., NodeScript]]:
    """`node tests/compat/node/scaleout_*.mjs` against a cluster: PUSHER_PORTS lists every node's port."""
    ensure_node_modules()
    started: list[NodeScript] = []
    endpoints = ExitStack()

    def _run(cluster: Cluster, script: str, timeout_ms: int = 20_000, **env: str) -> NodeScript:
        first = cluster.servers[0]
        auth = endpoints.enter_context(AuthEndpoint(first.app_id, first.key, first.secret, first.host, first.port))
        users = endpoints.enter_context(UserAuthEndpoint(first.app_id, first.key, first.secret))
        full_env = {
            "PUSHER_HOST": first.host,
            "PUSHER_PORT": str(first.port),
            "PUSHER_PORTS": cluster.ports,
            "PUSHER_APP_ID": first.app_id,
            "PUSHER_KEY": first.key,
            "PUSHER_SECRET": first.secret,
            "AUTH_ENDPOINT": auth.channel_auth_url,
            "USER_AUTH_ENDPOINT": users.user_auth_url(),
            "USER_CHANNEL_AUTH_ENDPOINT": users.channel_auth_url,
            "COMPAT_SUFFIX": uuid.uuid4().hex[:8],
            **env,
        }
        proc = NodeScript(script, full_env, timeout_ms=timeout_ms)
        started.append(proc)
        return proc

    yield _run
    for proc in started:
        proc.kill()
    endpoints.close()

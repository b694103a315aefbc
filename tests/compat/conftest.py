from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.compat.nodejs import NodeScript, ensure_node_modules
from tests.support.auth_endpoint import AuthEndpoint
from tests.support.server import RunningServer


@pytest.fixture(scope="session")
def node_modules() -> None:
    ensure_node_modules()


@pytest.fixture(scope="module")
def auth_endpoint(server: RunningServer) -> Iterator[AuthEndpoint]:
    """The app's auth endpoint (channel authorization with the official Python SDK), in a thread."""
    with AuthEndpoint(server.app_id, server.key, server.secret, server.host, server.port) as endpoint:
        yield endpoint


@pytest.fixture
def run_node(
    server: RunningServer, auth_endpoint: AuthEndpoint, node_modules: None
) -> Iterator[Callable[..., NodeScript]]:
    """Start `node tests/compat/node/<script>` pointed at the server; killed at teardown if still running."""
    started: list[NodeScript] = []

    def _run(script: str, timeout_ms: int = 10_000, **env: str) -> NodeScript:
        full_env = {
            "PUSHER_HOST": server.host,
            "PUSHER_PORT": str(server.port),
            "PUSHER_APP_ID": server.app_id,
            "PUSHER_KEY": server.key,
            "PUSHER_SECRET": server.secret,
            "AUTH_ENDPOINT": auth_endpoint.channel_auth_url,
            "COMPAT_SUFFIX": uuid.uuid4().hex[:8],
            **env,
        }
        proc = NodeScript(script, full_env, timeout_ms=timeout_ms)
        started.append(proc)
        return proc

    yield _run
    for proc in started:
        proc.kill()


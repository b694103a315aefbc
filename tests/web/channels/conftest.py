"""Helpers for the Channels web-layer tests (the HTTP API and the WebSocket endpoint of a whole server running
in the test process, tests/support/inprocess.py): signed HTTP API calls, the official SDK, CLI-made apps, names."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

import pusher
import pytest
import requests

from tests.support.inprocess import run_cli
from tests.support.server import RunningServer
from tidings.channels.httpauth import sign_params

HTTP_TIMEOUT = 10


def uniq(prefix: str) -> str:
    """A fresh channel name, so tests sharing a module server never see each other's channels."""
    return f"{prefix}{secrets.token_hex(4)}"


@dataclass
class Api:
    """Signed requests to one app of a running server, with `requests` and our own signer."""

    server: RunningServer
    app_id: str
    key: str
    secret: str

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        key: str | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
        extra: dict[str, str] | None = None,
    ) -> requests.Response:
        """`path` may contain `{app}` for the app id. `body` is JSON-encoded unless it is bytes.
        `extra` query parameters are added after signing (to tamper with a signed request)."""
        path = path.replace("{app}", self.app_id)
        raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        signed = sign_params(key or self.key, secret or self.secret, method, path, params or {}, raw, timestamp)
        signed.update(extra or {})
        headers = {"Content-Type": "application/json"} if raw else {}
        return requests.request(
            method, self.server.http_url + path, params=signed, data=raw or None, headers=headers,
            timeout=HTTP_TIMEOUT,
        )

    def post(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.request("POST", path, body=body, **kw)

    def get(self, path: str, params: dict[str, str] | None = None, **kw: Any) -> requests.Response:
        return self.request("GET", path, params=params, **kw)

    def trigger(self, channels: str | list[str], name: str, data: str, **fields: Any) -> requests.Response:
        body: dict[str, Any] = {"name": name, "data": data, **fields}
        body["channels" if isinstance(channels, list) else "channel"] = channels
        return self.post("/apps/{app}/events", body)

    def trigger_ok(self, channels: str | list[str], name: str, data: str, **fields: Any) -> Any:
        r = self.trigger(channels, name, data, **fields)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()


def api_for(server: RunningServer, app_id: str | None = None, key: str | None = None,
            secret: str | None = None) -> Api:
    return Api(server, app_id or server.app_id, key or server.key, secret or server.secret)


def sdk_for(server: RunningServer) -> pusher.Pusher:
    return pusher.Pusher(
        app_id=server.app_id, key=server.key, secret=server.secret, host=server.host, port=server.port,
        ssl=False, timeout=HTTP_TIMEOUT,
    )


@pytest.fixture
def api(server: RunningServer) -> Api:
    return api_for(server)


@pytest.fixture
def sdk(server: RunningServer) -> pusher.Pusher:
    return sdk_for(server)


def assert_error_body(r: requests.Response, status: int) -> str:
    """A refused API request: this status and a JSON body that is exactly `{"error": "<message>"}`."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"], body
    return str(body["error"])


@dataclass
class CliApp:
    id: str
    key: str
    secret: str


def create_app(server: RunningServer, *flags: str) -> CliApp:
    """`tidings apps create` against the server's data dir, with explicit credentials (the command runs in
    this process: tests/support/inprocess.py `run_cli`; tests/cli/ run the real one)."""
    app = CliApp(str(2_000_000 + secrets.randbelow(7_000_000)), uniq("key-"), secrets.token_hex(10))
    done = run_cli(
        "apps", "create", "--id", app.id, "--key", app.key, "--secret", app.secret, *flags,
        data_dir=server.data_dir,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"created app {app.id}" in done.stdout, done.stdout
    return app


def cli(server: RunningServer, *args: str) -> str:
    """`tidings ...` against the server's data dir (and its TIDINGS_DATABASE_URL, if it has one), in process."""
    database = {k: v for k, v in server.env.items() if k == "TIDINGS_DATABASE_URL"}
    done = run_cli(*args, data_dir=server.data_dir, env=database)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def metric(server: RunningServer, name: str, labels: str = "") -> float:
    """The value of one Prometheus sample (0 when absent), read from /metrics."""
    text = requests.get(f"{server.http_url}/metrics", timeout=HTTP_TIMEOUT).text
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else r"(?:\{\})?") + r" ([0-9.e+-]+)$"
    m = re.search(pattern, text, re.M)
    return float(m.group(1)) if m else 0.0

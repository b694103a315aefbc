"""The admin CLI next to a running server on SQLite: both write at once, nobody gets "database is locked".

A real `tidings serve` (its own process, as in production) registers Beams devices, subscribes them and delivers
publishes (push_stub: every send is recorded, nothing leaves the machine) as fast as two clients can ask, while
`tidings apps update` and `tidings apps webhooks add|remove` run in their own processes on the same file. Each
of those reads the app, then writes it: the transaction that failed before writes began IMMEDIATE.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.server import APP_ID, start_server, tidings_cli

pytestmark = pytest.mark.slow

IID = str(uuid.uuid4())
SECRET = "instance-secret-for-the-cli-test"
DEV = f"/device_api/v1/instances/{IID}"
PUB = f"/publish_api/v1/instances/{IID}"
LOCKED = "database is locked"


def web_token(n: int) -> str:
    """What the web SDK registers: btoa(JSON.stringify(pushSubscription)), with a real P-256 public key."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    p256dh = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    keys = {"p256dh": base64.urlsafe_b64encode(p256dh).decode(), "auth": base64.urlsafe_b64encode(b"a" * 16).decode()}
    subscription = {"endpoint": f"http://127.0.0.1:9/push/{n}", "keys": keys}
    return base64.b64encode(json.dumps(subscription).encode()).decode()


class Writer(threading.Thread):
    """Keeps the server writing: a device registered, subscribed, and now and then a publish to them."""

    def __init__(self, base_url: str, name: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base_url, self.tag, self.stop = base_url, name, stop
        self.writes = 0
        self.failures: list[str] = []

    def run(self) -> None:
        auth = {"Authorization": f"Bearer {SECRET}"}
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            n = 0
            while not self.stop.is_set():
                n += 1
                answers = [http.post(f"{DEV}/devices/web", json={"token": web_token(n)})]
                if answers[0].status_code == 200:
                    device = answers[0].json()["id"]
                    answers.append(http.post(f"{DEV}/devices/web/{device}/interests/{self.tag}"))
                if n % 5 == 0:
                    answers.append(http.post(f"{PUB}/publishes/interests", headers=auth, json={
                        "interests": [self.tag], "web": {"notification": {"title": "Hi"}},
                    }))
                for answer in answers:
                    if answer.status_code == 200:
                        self.writes += 1
                    else:
                        self.failures.append(f"{answer.request.url.path}: {answer.status_code} {answer.text}")


def test_cli_changes_apply_while_the_server_writes(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", env={
        "TIDINGS_DEFAULT_INSTANCE_ID": IID, "TIDINGS_DEFAULT_INSTANCE_SECRET": SECRET, "TIDINGS_PUSH_STUB": "true",
    })
    stop = threading.Event()
    writers = [Writer(server.http_url, f"news-{i}", stop) for i in range(2)]
    try:
        for writer in writers:
            writer.start()
        cli_runs: list[tuple[list[str], int, str]] = []

        def cli(*args: str) -> None:
            done = tidings_cli("apps", *args, data_dir=server.data_dir)
            cli_runs.append((list(args), done.returncode, done.stdout + done.stderr))

        before = sum(w.writes for w in writers)
        rounds = 4
        for i in range(rounds):
            cli("update", APP_ID, "--name", f"name-{i}", "--max-connections", str(100 + i))
            cli("webhooks", "add", APP_ID, f"http://127.0.0.1:9/hook-{i}", "--header", f"X-Round: {i}")
            if i:
                cli("webhooks", "remove", APP_ID, f"http://127.0.0.1:9/hook-{i - 1}")
        during = sum(w.writes for w in writers) - before
    finally:
        stop.set()
        for writer in writers:
            writer.join(30)
        log = server.log()
        server.stop()

    assert [(args, code, out) for args, code, out in cli_runs if code != 0 or LOCKED in out] == []
    assert during > 20, "the server was not writing while the CLI ran"  # both wrote at once
    assert [failure for writer in writers for failure in writer.failures] == []
    assert LOCKED not in log

    shown = json.loads(tidings_cli("apps", "show", APP_ID, "--json", "--show-secrets",
                                   data_dir=server.data_dir).stdout)
    last = rounds - 1
    assert shown["name"] == f"name-{last}" and shown["limits"]["max_connections"] == 100 + last
    assert [(hook["url"], hook["headers"]) for hook in shown["webhooks"]] == [
        (f"http://127.0.0.1:9/hook-{last}", {"X-Round": str(last)})
    ]

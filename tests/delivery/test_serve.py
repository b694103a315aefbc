"""End to end through a real server (in this process, tests/support/inprocess.py): its workers deliver a
publish made over the API (or with `tidings publish`) through the real Web Push provider, and the status endpoint and
`tidings publishes show` tell what happened."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.support.emulators.webpush import WebPushEmulator, token_for
from tests.support.inprocess import start_inprocess
from tests.support.server import RunningServer
from tidings.cli import main

IID = "0b7f6c8e-1d2a-4c3b-9e8f-112233445566"
SECRET = "C0FFEE" * 10 + "ABCD"
AUTH = {"Authorization": f"Bearer {SECRET}"}
PUB = f"/publish_api/v1/instances/{IID}"
DEV = f"/device_api/v1/instances/{IID}"


@pytest.fixture(scope="module")
def push() -> Iterator[WebPushEmulator]:
    with WebPushEmulator() as service:
        yield service


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_inprocess(
        tmp_path_factory.mktemp("serve"),
        env={"TIDINGS_DEFAULT_INSTANCE_ID": IID, "TIDINGS_DEFAULT_INSTANCE_SECRET": SECRET},
    )
    yield srv
    srv.stop()


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_url, timeout=10) as client:
        yield client


def subscribe(http: httpx.Client, push: WebPushEmulator, interest: str) -> tuple[str, Any]:
    """What the web SDK does: subscribe with the instance's VAPID key, register, add an interest."""
    key = http.get(f"{DEV}/web-vapid-public-key").json()["vapidPublicKey"]
    subscription = push.new_subscription(application_server_key=key)
    device_id = http.post(f"{DEV}/devices/web", json={"token": token_for(subscription)}).json()["id"]
    assert http.post(f"{DEV}/devices/web/{device_id}/interests/{interest}").status_code == 200
    return device_id, subscription


def cli(*args: str, data_dir: Path) -> str:
    """Run a `tidings` command in this process (the server runs in its own) on the server's database."""
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def wait_done(http: httpx.Client, publish_id: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = http.get(f"{PUB}/publishes/{publish_id}", headers=AUTH).json()
        if status["status"] == "done" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_a_publish_is_delivered_dead_subscriptions_removed_and_the_status_told(
    server: RunningServer, http: httpx.Client, push: WebPushEmulator
) -> None:
    devices = [subscribe(http, push, "news") for _ in range(3)]
    gone_id, gone = devices[2]
    push.forget(gone)  # the user revoked permission: the push service answers 404
    body = {"interests": ["news"], "web": {"notification": {"title": "Hello", "body": "world"}}}

    publish_id = http.post(f"{PUB}/publishes/interests", json=body, headers=AUTH).json()["publishId"]

    status = wait_done(http, publish_id)
    assert {k: v for k, v in status.items() if not k.endswith("At")} == {
        "publishId": publish_id,
        "status": "done",
        "kind": "interests",
        "targets": ["news"],
        "devices": {"sent": 2, "failed": 0, "removed": 1, "skipped": 0},
        "pending": 0,
        "reports": {"delivery": 0, "open": 0},
    }
    for _, subscription in devices[:2]:
        (got,) = push.wait_for(1, subscription=subscription)
        assert got.message["notification"] == {"title": "Hello", "body": "world"}
        assert got.message["data"]["pusher"]["publishId"] == publish_id
    assert http.get(f"{DEV}/devices/web/{gone_id}").status_code == 404  # the dead device is gone

    # The service worker reports the delivery: the status counts it.
    report = {"event": "delivery", "publishId": publish_id, "deviceId": devices[0][0], "timestampSecs": 1}
    assert http.post(f"/reporting_api/v2/instances/{IID}/events", json=report).status_code == 200
    assert http.get(f"{PUB}/publishes/{publish_id}", headers=AUTH).json()["reports"] == {"delivery": 1, "open": 0}


def test_the_status_endpoint_needs_the_secret_key_and_a_known_publish(server: RunningServer,
                                                                       http: httpx.Client) -> None:
    body = {"interests": ["nobody"], "web": {"notification": {"title": "x"}}}
    publish_id = http.post(f"{PUB}/publishes/interests", json=body, headers=AUTH).json()["publishId"]

    wrong = http.get(f"{PUB}/publishes/{publish_id}", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "Unauthorized"
    unknown = http.get(f"{PUB}/publishes/pubid-unknown", headers=AUTH)
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": "Publish not found",
        "description": "Could not find a publish with that id for this instance",
    }
    other_instance = http.get(f"/publish_api/v1/instances/{IID[:-1]}7/publishes/{publish_id}", headers=AUTH)
    assert other_instance.status_code == 404
    assert wait_done(http, publish_id)["devices"] == {"sent": 0, "failed": 0, "removed": 0, "skipped": 0}


def test_the_cli_publishes_to_a_running_server_and_shows_the_status(
    server: RunningServer, http: httpx.Client, push: WebPushEmulator
) -> None:
    device_id, subscription = subscribe(http, push, "cli-news")
    data_dir: Path = server.data_dir

    out = cli("publish", "--interests", "cli-news", "--title", "From", "--body", "the CLI", "--platform", "web",
              "--data", '{"k": 1}', data_dir=data_dir)

    publish_id = out.strip()
    (got,) = push.wait_for(1, subscription=subscription, timeout=10)  # the server's workers poll the queue
    assert got.message["notification"] == {"title": "From", "body": "the CLI"}
    assert got.message["data"]["k"] == 1
    assert wait_done(http, publish_id)["devices"]["sent"] == 1
    shown = json.loads(cli("publishes", "show", publish_id, "--json", data_dir=data_dir))
    assert shown["devices"] == {"sent": 1, "failed": 0, "removed": 0, "skipped": 0}
    table = cli("publishes", "show", publish_id, "--instance", IID, data_dir=data_dir)
    assert "status       done" in table and "interests    cli-news" in table

"""Through a real server (in this process, tests/support/inprocess.py): push endpoints that trickle or fail
forever hold up no other publish.

The trickling endpoint answers 201 and then one byte every 2 s, for ever (a per-read timeout that restarts at
each byte never fires); the failing one answers 500 to every attempt. Before delivery was scheduled per device,
either one stopped every later publish of every instance for good (or for the 300 s retry deadline).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.delivery.test_serve import AUTH, IID, PUB, SECRET, http, push, subscribe
from tests.support.emulators.webpush import WebPushEmulator
from tests.support.inprocess import start_inprocess
from tests.support.server import RunningServer

__all__ = ["http", "push"]  # test_serve's fixtures, used with this module's server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_inprocess(
        tmp_path_factory.mktemp("hostile"),
        env={
            "TIDINGS_DEFAULT_INSTANCE_ID": IID,
            "TIDINGS_DEFAULT_INSTANCE_SECRET": SECRET,
            "TIDINGS_DELIVERY_REQUEST_TIMEOUT": "3",
        },
    )
    yield srv
    srv.stop()


def publish(http: httpx.Client, interest: str) -> str:
    body = {"interests": [interest], "web": {"notification": {"title": "Hello", "body": interest}}}
    response = http.post(f"{PUB}/publishes/interests", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    return str(response.json()["publishId"])


def status(http: httpx.Client, publish_id: str) -> dict[str, Any]:
    response = http.get(f"{PUB}/publishes/{publish_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_done(http: httpx.Client, publish_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (found := status(http, publish_id))["status"] != "done":
        assert time.monotonic() < deadline, f"not done after {timeout}s: {found}"
        time.sleep(0.1)
    return found


@pytest.mark.parametrize("misbehaviour", ["trickle", "500"])
def test_a_misbehaving_endpoint_holds_up_no_other_publish(
    server: RunningServer, http: httpx.Client, push: WebPushEmulator, misbehaviour: str
) -> None:
    bad_id, bad = subscribe(http, push, f"bad-{misbehaviour}")
    good = [subscribe(http, push, f"good-{misbehaviour}") for _ in range(5)]
    if misbehaviour == "trickle":
        push.answer(201, subscription=bad, trickle=True)
    else:
        push.answer(500, subscription=bad)
    stuck = publish(http, f"bad-{misbehaviour}")
    push.wait_for(1, subscription=bad, timeout=30)  # the worker is on it

    later = [publish(http, f"good-{misbehaviour}") for _ in range(3)]

    for publish_id in later:  # each in seconds, while the bad endpoint is still being tried
        assert wait_done(http, publish_id, timeout=60)["devices"]["sent"] == 5
    for _, subscription in good:
        assert len(push.wait_for(3, subscription=subscription, timeout=10)) == 3
    stuck_status = status(http, stuck)
    assert stuck_status["status"] == "running" and stuck_status["pending"] == 1
    if misbehaviour == "500":  # tried again and again meanwhile, not waited for
        assert len(push.wait_for(2, subscription=bad, timeout=30)) >= 2
    push.reset()

"""The push outbox through the whole server (in process): TIDINGS_DEFAULT_INSTANCE_OUTBOX=true, devices registered
and a publish made over the documented APIs, then the outbox read over GET /outbox_api/v1/... and `tidings outbox`;
`tidings instances configure ID --no-outbox` sends again."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from tests.compat.beams.conftest import BeamsHttp, BeamsInstance
from tests.support.inprocess import InProcessServer, run_cli, start_inprocess
from tests.support.push_endpoint import PushService
from tidings.delivery.worker import INSTANCE_TTL

WAIT = 30.0


@pytest.fixture(scope="module")
def beams() -> BeamsInstance:
    return BeamsInstance.new()


@pytest.fixture(scope="module")
def push() -> Iterator[PushService]:
    with PushService() as service:
        yield service


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, beams: BeamsInstance) -> Iterator[InProcessServer]:
    srv = start_inprocess(
        tmp_path_factory.mktemp("outbox"), env={**beams.env, "TIDINGS_DEFAULT_INSTANCE_OUTBOX": "true"},
        app_cache_ttl=0.2,
    )
    yield srv
    srv.stop()


def beams_token(beams: BeamsInstance, user_id: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user_id, "iss": beams.issuer, "iat": now, "exp": now + 600}, beams.secret,
                      algorithm="HS256")


def outbox(server: InProcessServer, beams: BeamsInstance, query: str = "", secret: str | None = None
           ) -> requests.Response:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return requests.get(f"{server.http_url}/outbox_api/v1/instances/{beams.id}/notifications{query}",
                        headers=headers, timeout=10)


def wait_for_outbox(server: InProcessServer, beams: BeamsInstance, count: int, query: str = "") -> list[Any]:
    deadline = time.monotonic() + WAIT
    while True:
        reply = outbox(server, beams, query, beams.secret)
        assert reply.status_code == 200, reply.text
        found = reply.json()["notifications"]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, found
            return list(found)
        time.sleep(0.1)


def test_notifications_are_kept_not_sent_and_read_newest_first(
    server: InProcessServer, beams: BeamsInstance, push: PushService
) -> None:
    api = BeamsHttp(server.http_url, beams)
    user = f"alice-{uuid.uuid4().hex[:6]}"
    sub = push.new_subscription()
    web_device = api.register_web(sub)
    fcm_device = api.register_fcm(f"fcm-{uuid.uuid4().hex}")
    api.set_user(web_device, beams_token(beams, user))
    api.set_user(fcm_device, beams_token(beams, user), platform="fcm")

    reply = api.publish("users", {
        "users": [user],
        "web": {"notification": {"title": "Order shipped", "body": "#42"}},
        "fcm": {"notification": {"title": "Order shipped", "body": "#42"}},
    })
    assert reply.status_code == 200, reply.text
    publish_id = reply.json()["publishId"]

    kept = wait_for_outbox(server, beams, 2, f"?user_id={user}")
    assert {k["platform"] for k in kept} == {"web", "fcm"}
    assert all(k["publishId"] == publish_id and k["userId"] == user for k in kept)
    assert [k["id"] for k in kept] == sorted((k["id"] for k in kept), reverse=True)  # newest first
    web = next(k for k in kept if k["platform"] == "web")
    assert web["deviceId"] == web_device and web["notification"]["title"] == "Order shipped"
    assert web["request"]["url"] == sub.endpoint and web["request"]["bodyEncoding"] == "base64"
    assert web["request"]["payload"]["notification"] == {"title": "Order shipped", "body": "#42"}
    assert web["request"]["headers"]["Authorization"].startswith("vapid t=<masked>, k=")
    fcm = next(k for k in kept if k["platform"] == "fcm")
    assert json.loads(fcm["request"]["body"])["message"]["notification"]["title"] == "Order shipped"

    # Recorded `sent`, and nothing reached the push service.
    status = api.request("GET", f"/publish_api/v1/instances/{beams.id}/publishes/{publish_id}",
                         headers={"Authorization": f"Bearer {beams.secret}"}).json()
    assert status["devices"]["sent"] == 2, status
    assert push.received(sub) == []

    assert wait_for_outbox(server, beams, 0, "?user_id=nobody") == []
    assert len(wait_for_outbox(server, beams, 1, "?limit=1")) == 1
    assert outbox(server, beams, "?limit=0", beams.secret).status_code == 400
    assert outbox(server, beams).status_code == 400  # no Authorization header: Beams' "Incomplete Request"
    wrong = outbox(server, beams, secret="0" * 64)
    assert wrong.status_code == 401 and wrong.json()["error"] == "Unauthorized"

    cli = run_cli("outbox", beams.id, "--user", user, "--json", data_dir=server.data_dir)
    assert cli.returncode == 0, cli.stderr
    lines = [json.loads(line) for line in cli.stdout.splitlines()]
    assert [line["id"] for line in lines] == [k["id"] for k in kept]
    text = run_cli("outbox", beams.id, data_dir=server.data_dir)
    assert text.returncode == 0 and "title: 'Order shipped'" in text.stdout and "<masked>" in text.stdout


def test_outbox_mode_off_sends_again(server: InProcessServer, beams: BeamsInstance, push: PushService) -> None:
    api = BeamsHttp(server.http_url, beams)
    user = f"bob-{uuid.uuid4().hex[:6]}"
    sub = push.new_subscription()
    device = api.register_web(sub)
    api.set_user(device, beams_token(beams, user))
    off = run_cli("instances", "configure", beams.id, "--no-outbox", data_dir=server.data_dir)
    assert off.returncode == 0 and "outbox" in off.stdout, off.stderr
    try:
        # The delivery worker reads an instance again INSTANCE_TTL seconds after it last did (docs/outbox.md).
        time.sleep(INSTANCE_TTL + 0.5)
        reply = api.publish("users", {"users": [user], "web": {"notification": {"title": "Sent for real"}}})
        assert reply.status_code == 200, reply.text
        message = push.wait_for(sub, timeout=WAIT)
        assert json.loads(sub.decrypt(message.body))["notification"]["title"] == "Sent for real"
        assert wait_for_outbox(server, beams, 0, f"?user_id={user}") == []
    finally:
        on = run_cli("instances", "configure", beams.id, "--outbox", data_dir=server.data_dir)
        assert on.returncode == 0, on.stderr


def test_the_banner_offers_the_outbox_for_a_created_instance(tmp_path: Path) -> None:
    from tidings.banner import beams_banner
    from tidings.beams.instances import new_instance
    from tidings.providers.outbox import section

    created = new_instance(None, None, name="default")
    text = beams_banner(created, created=True, base_url="http://127.0.0.1:6001")
    assert f"tidings instances configure {created.id} --outbox" in text
    on = created.model_copy(update={"providers": {"outbox": section(True)}})
    assert "Outbox mode is on" in beams_banner(on, created=True, base_url="http://127.0.0.1:6001")

"""HTTP framing the Beams SDKs meet on real networks: bodies that arrive in several TCP segments.

A phone on a slow network, or any request whose body is bigger than one TCP segment or one read buffer, reaches
the server in pieces. A valid request must be accepted whole however it is split; here the body is sent as
100 bytes, a pause, then the rest (over a raw socket, so the split is certain). CORS is checked on the
error replies too: the web SDK can only read `{error, description}` of a 4xx if the reply carries CORS headers.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

import pytest
import requests

from tests.compat.beams.conftest import BeamsHttp, BeamsInstance, describe
from tests.support.push_endpoint import PushService
from tests.support.server import RunningServer

pytestmark = [pytest.mark.compat, pytest.mark.slow]

PAUSE = 0.3
WEB = {"notification": {"title": "Hello", "body": "split body"}}


def send_in_pieces(
    server: RunningServer, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any] | None, bytes]:
    """Send headers + the first 100 bytes of `body`, pause, then the rest. Returns status, JSON body, raw body."""
    head = "".join(f"{k}: {v}\r\n" for k, v in {
        "Host": f"{server.host}:{server.port}", "Content-Type": "application/json",
        "Content-Length": str(len(body)), "Connection": "close", **headers,
    }.items())
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body[:100])
        time.sleep(PAUSE)
        sock.sendall(body[100:])
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    status_line, _, rest = raw.partition(b"\r\n")
    payload = rest.partition(b"\r\n\r\n")[2]
    try:
        parsed = json.loads(payload) if payload else None
    except ValueError:
        parsed = None
    return int(status_line.split()[1]), parsed, payload


def padded(body: dict[str, Any], size: int) -> bytes:
    """`body` with web.data.pad grown so that the compact JSON is `size` bytes."""
    body = json.loads(json.dumps(body))
    body.setdefault("web", dict(WEB)).setdefault("data", {})["pad"] = ""
    base = len(json.dumps(body, separators=(",", ":")))
    body["web"]["data"]["pad"] = "x" * (size - base)
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert len(raw) == size
    return raw


@pytest.mark.parametrize("kind,size", [("interests", 2_000), ("interests", 10 * 1024), ("users", 5_000),
                                       ("users", 150_000)])
def test_publish_body_in_pieces(
    beams_server: RunningServer, beams_instance: BeamsInstance, kind: str, size: int
) -> None:
    targets = {"interests": ["donuts"]} if kind == "interests" else {"users": ["alice"]}
    status, body, raw = send_in_pieces(
        beams_server, "POST", f"/publish_api/v1/instances/{beams_instance.id}/publishes/{kind}",
        padded({**targets, "web": dict(WEB)}, size), {"Authorization": f"Bearer {beams_instance.secret}"},
    )
    assert status == 200, f"a valid {size}-byte publish to {kind}, sent in two pieces: {status} {raw[:300]!r}"
    assert body is not None and str(body.get("publishId", "")).startswith("pubid-"), raw


def test_oversize_publish_in_pieces_is_refused_as_too_large(
    beams_server: RunningServer, beams_instance: BeamsInstance
) -> None:
    status, body, raw = send_in_pieces(
        beams_server, "POST", f"/publish_api/v1/instances/{beams_instance.id}/publishes/users",
        padded({"users": ["alice"], "web": dict(WEB)}, 200 * 1024 + 1),
        {"Authorization": f"Bearer {beams_instance.secret}"},
    )
    assert status == 400, raw[:300]
    assert body is not None and "large" in str(body.get("description")), raw[:300]


def test_device_api_bodies_in_pieces(
    beams_server: RunningServer, beams_instance: BeamsInstance, api: BeamsHttp, push_service: PushService
) -> None:
    base = f"/device_api/v1/instances/{beams_instance.id}"
    register = json.dumps({"token": push_service.new_subscription().token, "metadata": {"sdkVersion": "2.1.0"}})
    status, body, raw = send_in_pieces(beams_server, "POST", f"{base}/devices/web", register.encode(), {})
    assert status == 200, f"register web device, body in two pieces: {status} {raw[:300]!r}"
    assert body is not None
    device_id = str(body["id"])
    assert api.device(device_id)["id"] == device_id

    interests = [f"interest-{n}" for n in range(60)]
    status, _, raw = send_in_pieces(beams_server, "PUT", f"{base}/devices/web/{device_id}/interests",
                                    json.dumps({"interests": interests}).encode(), {})
    assert status == 200, f"set interests, body in two pieces: {status} {raw[:300]!r}"
    assert api.interests(device_id) == sorted(interests)


def test_reporting_body_in_pieces(beams_server: RunningServer, beams_instance: BeamsInstance) -> None:
    event = {"event": "delivery", "publishId": f"pubid-{uuid.uuid4()}", "deviceId": f"web-{uuid.uuid4()}",
             "userId": None, "timestampSecs": int(time.time()), "appInBackground": True,
             "hasDisplayableContent": True, "hasData": False}
    status, _, raw = send_in_pieces(beams_server, "POST", f"/reporting_api/v2/instances/{beams_instance.id}/events",
                                    json.dumps(event).encode(), {})
    assert status == 200, f"reporting event, body in two pieces: {status} {raw[:300]!r}"


def test_cors_on_device_api_errors(beams_server: RunningServer, beams_instance: BeamsInstance) -> None:
    origin = "http://localhost:12345"
    path = f"/device_api/v1/instances/{beams_instance.id}/devices/web/web-{uuid.uuid4()}/user"
    pre = requests.options(beams_server.http_url + path, timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization",
    })
    assert 200 <= pre.status_code < 300, describe(pre)
    assert pre.headers.get("Access-Control-Allow-Origin") in ("*", origin), pre.headers
    assert "put" in pre.headers.get("Access-Control-Allow-Methods", "").lower(), pre.headers
    assert "authorization" in pre.headers.get("Access-Control-Allow-Headers", "").lower(), pre.headers
    r = requests.put(beams_server.http_url + path, timeout=10, headers={"Origin": origin, "Authorization": "Bearer x"})
    assert r.status_code == 404, describe(r)
    assert r.headers.get("Access-Control-Allow-Origin") in ("*", origin), r.headers


@pytest.mark.parametrize("where", ["publish", "device-user"])
def test_non_utf8_bearer_values_are_refused_not_crashed(
    beams_server: RunningServer, beams_instance: BeamsInstance, where: str
) -> None:
    """Header bytes that are not UTF-8 reach the server as lone surrogates; they must get a 401, not a 500."""
    if where == "publish":
        method, path = "POST", f"/publish_api/v1/instances/{beams_instance.id}/publishes/users"
        body = json.dumps({"users": ["alice"], "web": WEB}).encode()
    else:
        method, path = "PUT", f"/device_api/v1/instances/{beams_instance.id}/devices/web/web-{uuid.uuid4()}/user"
        body = b""
    head = (f"{method} {path} HTTP/1.1\r\nHost: {beams_server.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n").encode()
    with socket.create_connection((beams_server.host, beams_server.port), timeout=10) as sock:
        sock.sendall(head + b"Authorization: Bearer \xff\xfe\xed\xa0\r\n\r\n" + body)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    status = int(raw.split(b" ", 2)[1])
    # The device does not exist: 404 is as good an answer as 401 there; what matters is no 500.
    assert status in ((401,) if where == "publish" else (401, 404)), raw[:300]
    payload = json.loads(raw.partition(b"\r\n\r\n")[2])
    assert payload["error"] and payload["description"], payload

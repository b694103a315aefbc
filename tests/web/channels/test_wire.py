"""The WebSocket endpoint on the wire: one port for HTTP and WebSockets, however the upgrade arrives."""

from __future__ import annotations

import base64
import os
import socket
import time

import pytest

from tests.realtime.rawws import RawWs
from tests.support.server import RunningServer
from tidings.web import listener, wsconn


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed early: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def test_an_upgrade_after_a_kept_alive_request_is_served(server: RunningServer) -> None:
    """A proxy reusing an upstream connection sends the upgrade as its second request."""
    sock = socket.create_connection((server.host, server.port), timeout=20)
    sock.sendall(f"GET /health HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
    head, rest = read_head(sock)
    assert head.startswith(b"HTTP/1.1 200")
    lengths = [line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    length = int(lengths[0])
    while len(rest) < length:
        rest += sock.recv(65536)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /app/{server.key}?protocol=7 HTTP/1.1\r\nHost: {server.host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head, rest = read_head(sock)
    assert head.startswith(b"HTTP/1.1 101"), head
    ws = RawWs(sock, 101, head, rest)
    ws.established()
    ws.send_json({"event": "pusher:subscribe", "data": {"channel": "news"}})
    ws.expect("pusher_internal:subscription_succeeded", channel="news")
    ws.send_json({"event": "pusher:ping", "data": {}})
    ws.expect("pusher:pong")
    ws.abandon()
    assert "Traceback" not in server.log()


def test_a_plain_get_of_the_websocket_path_is_refused_in_http(server: RunningServer) -> None:
    sock = socket.create_connection((server.host, server.port), timeout=20)
    sock.sendall(f"GET /app/{server.key}?protocol=7 HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
    head, _ = read_head(sock)
    assert head.split(b" ")[1].startswith(b"4"), head  # 426 Upgrade Required (websockets' answer)
    sock.close()


def test_other_paths_still_reach_the_http_api(server: RunningServer) -> None:
    sock = socket.create_connection((server.host, server.port), timeout=20)
    sock.sendall(f"GET /apps/{server.app_id}/channels HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
    head, rest = read_head(sock)
    assert head.startswith(b"HTTP/1.1 401"), head  # unsigned: the API's JSON error
    sock.close()


def test_a_wrong_path_under_app_closes_with_4005(server: RunningServer) -> None:
    ws = RawWs.open(server.host, server.port, f"/app/{server.key}/extra?protocol=7")
    frame = ws.recv_json()
    assert frame["event"] == "pusher:error" and frame["data"]["code"] == 4005


@pytest.mark.parametrize("partial", [b"GET /app/", b"GET /app/k?protocol=7 HTTP/1.1\r\nHost: x\r\n"])
def test_an_upgrade_that_never_completes_is_dropped(
    server: RunningServer, partial: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slowloris: a first line or a head that never ends does not hold a socket for ever (10 s; 1 s here: the
    server runs in this process, so the deadlines are shortened for this test)."""
    monkeypatch.setattr(listener, "FIRST_LINE_TIMEOUT", 1.0)
    monkeypatch.setattr(wsconn, "HANDSHAKE_TIMEOUT", 1.0)
    sock = socket.create_connection((server.host, server.port), timeout=60)
    began = time.monotonic()
    sock.sendall(partial)
    try:
        assert sock.recv(65536) == b""  # EOF (or a reset, below) once the deadline passed
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    assert time.monotonic() - began >= 0.9, "dropped before its deadline"

"""The whole server in the test process (tests/support/inprocess.py), on the test's own loop or on one of its
own: what the web-layer tests stand on."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import aiohttp
import pytest

from tests.support.inprocess import run_cli, serving, settings_for, start_inprocess
from tests.support.server import APP_ID
from tests.support.ws_client import WsClient


async def test_serving_on_the_tests_loop_answers_http_and_websockets(tmp_path: Path) -> None:
    async with serving(tmp_path / "data") as srv:
        async with aiohttp.ClientSession() as http, http.get(f"{srv.http_url}/ready") as ready:
            assert ready.status == 200
        client = await WsClient.connect(srv.ws_url())
        # The stack is at hand: the hub counts the connection (no HTTP round trip to ask).
        assert srv.ctx.hub.connection_count(APP_ID) == 1
        closing = asyncio.create_task(client.expect_close(4200))
    # Left the block: stopped as on SIGTERM, so the client was told to reconnect elsewhere.
    assert await closing == [{"event": "pusher:error", "data": {"code": 4200, "message": "Server is shutting down"}}]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", srv.port), timeout=5):
        pass
    assert (tmp_path / "data" / "tidings.db").exists()  # SQLite in the test's own data dir


def test_a_server_on_its_own_loop_serves_blocking_clients_and_logs_only_its_own_lines(tmp_path: Path) -> None:
    srv = start_inprocess(tmp_path / "data", env={"TIDINGS_ACTIVITY_TIMEOUT": "7"})
    try:
        assert srv.running() and srv.settings.activity_timeout == 7
        # A blocking client in the test's thread: the server keeps serving from its own.
        with socket.create_connection((srv.host, srv.port), timeout=30) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200")
        logging.getLogger("tidings.tests").warning("a line from the test's thread")
        done = run_cli("apps", "list", "--json", data_dir=srv.data_dir)
        assert done.returncode == 0 and APP_ID in done.stdout, done
    finally:
        assert srv.stop() == 0
    assert srv.stop() == 0  # once is enough; again is harmless
    assert not srv.running()
    log = srv.log()
    assert "shutting down" in log and "a line from the test's thread" not in log, log


def test_settings_come_from_the_given_values_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_PORT", "1")  # the process environment is not read
    settings = settings_for(tmp_path, env={"TIDINGS_APP_CACHE_TTL": "0"}, pong_timeout=2.5)
    assert (settings.host, settings.port, settings.app_cache_ttl, settings.pong_timeout) == ("127.0.0.1", 0, 0, 2.5)
    assert settings.default_app_id == APP_ID and settings.default_app_client_events is True
    with pytest.raises(ValueError, match="not a Tidings setting"):
        settings_for(tmp_path, env={"PORT": "1"})

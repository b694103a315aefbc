"""Which console a server gets (token from the settings, generated on the embedded default, or none) and what the
banner prints of it; a stream whose reader stops reading stays bounded and gets a gap marker."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.console.support import TOKEN
from tests.support.inprocess import serving, settings_for
from tests.support.server import APP_ID
from tidings.banner import console_banner
from tidings.console.setup import resolve_token
from tidings.console.views import LIMIT


def test_the_token_comes_from_the_settings_or_the_embedded_default(tmp_path: Path) -> None:
    supplied = resolve_token(settings_for(tmp_path, console_token=SecretStr("abc")))
    assert supplied is not None and (supplied.value, supplied.created) == ("abc", False)
    assert resolve_token(settings_for(tmp_path, console_token=SecretStr(""))) is None  # turned off
    assert resolve_token(settings_for(tmp_path, database_url="postgresql+asyncpg://x/y")) is None
    assert resolve_token(settings_for(tmp_path, redis_url="redis://127.0.0.1:6379/0")) is None
    first = resolve_token(settings_for(tmp_path))
    again = resolve_token(settings_for(tmp_path))
    assert first is not None and again is not None
    assert first.created and not again.created and first.value == again.value and len(first.value) >= 32
    assert (tmp_path / "console-token").stat().st_mode & 0o777 == 0o600


def test_the_banner_prints_the_link_with_a_generated_token_once(tmp_path: Path) -> None:
    token = resolve_token(settings_for(tmp_path))
    assert token is not None
    text = console_banner("http://127.0.0.1:6001", token)
    assert f"http://127.0.0.1:6001/console/login#token={token.value}" in text
    later = resolve_token(settings_for(tmp_path))
    assert later is not None
    text = console_banner("http://127.0.0.1:6001", later)
    assert token.value not in text and "console-token" in text
    supplied = resolve_token(settings_for(tmp_path, console_token=SecretStr("s3cret-console")))
    assert supplied is not None and "s3cret-console" not in console_banner("http://h:1", supplied)


async def test_a_reader_that_stops_reading_gets_a_gap_and_server_memory_stays_bounded(tmp_path: Path) -> None:
    async with serving(tmp_path, console_token=TOKEN) as srv:
        console = srv.stack.console.console
        reader = socket.create_connection((srv.host, srv.port))
        reader.sendall(f"GET /console/api/apps/{APP_ID}/stream HTTP/1.1\r\nHost: x\r\n"
                       f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
        deadline = time.monotonic() + 30
        while console.views == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        (view,) = {v for views in console._views.values() for v in views}
        payload = json.dumps({"blob": "x" * 8000})
        most = 0
        for i in range(6000):  # ~48 MB of records for a reader that reads nothing: the socket buffers fill
            srv.ctx.hub.publish(APP_ID, f"e{i}", ["news"], payload)
            most = max(most, len(view._items))
            if i % 100 == 0:
                await asyncio.sleep(0)  # let the stream's writer run (and block on the full socket)
        assert most <= LIMIT and view._missed > 0
        # Now read: what was queued, then a gap marker counting what was dropped.
        reader.setblocking(False)
        seen = b""
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + 30
        while re.search(rb'"kind":"gap"[^\n]*\n', seen) is None:
            assert time.monotonic() < deadline, seen[-300:]
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(reader, 1 << 20), 5)
            except TimeoutError:
                srv.ctx.hub.publish(APP_ID, "nudge", ["news"], "{}")
                continue
            seen += chunk
            seen = seen[-200_000:]  # keep the tail: the gap comes after the queued records
        found = re.search(rb'data: (\{[^\n]*"kind":"gap"[^\n]*\})\n', seen)
        assert found is not None
        assert json.loads(found.group(1))["missed"] > 0
        reader.close()


@pytest.mark.parametrize("path", ["/console", "/console/api/scopes"])
async def test_no_console_without_a_token(tmp_path: Path, path: str) -> None:
    import aiohttp

    async with serving(tmp_path, console_token=SecretStr("")) as srv, aiohttp.ClientSession() as http:
        assert srv.stack.console is None
        async with http.get(srv.http_url + path, allow_redirects=False) as r:
            assert r.status == 404

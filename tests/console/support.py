"""Helpers for the console tests: a signed-in HTTP session, the SSE stream as records, signed API triggers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from tests.support.server import APP_ID, APP_KEY, APP_SECRET
from tests.support.ws_client import WsClient
from tidings.channels.httpauth import sign_params
from tidings.web.demo import user_auth_response

TOKEN = "console-test-token-0123456789"
WAIT = 30.0  # seconds: what the server owes may take a while on a loaded machine


async def login(http: aiohttp.ClientSession, base: str, token: str = TOKEN) -> aiohttp.ClientResponse:
    return await http.post(f"{base}/console/login", data={"token": token}, allow_redirects=False)


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Stream:
    """An open SSE stream: records as they come, each with the time it was read."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.seen: list[tuple[float, dict[str, Any]]] = []

    async def next(self, timeout: float = WAIT) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise EOFError("the stream ended")
                text = raw.decode().rstrip("\n")
                if text.startswith("data: "):
                    record = json.loads(text[6:])
                    self.seen.append((time.monotonic(), record))
                    return record

    async def until(self, match: Callable[[dict[str, Any]], bool], timeout: float = WAIT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            record = await self.next(max(0.01, deadline - time.monotonic()))
            if match(record):
                return record


@asynccontextmanager
async def stream(
    http: aiohttp.ClientSession, base: str, path: str = f"apps/{APP_ID}", headers: dict[str, str] | None = None,
    **params: str,
) -> AsyncIterator[Stream]:
    async with http.get(f"{base}/console/api/{path}/stream", params=params, headers=headers or {},
                        timeout=aiohttp.ClientTimeout(total=None, sock_read=WAIT)) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        # The stream is registered once the headers are out: the first comment follows them.
        assert (await response.content.readline()).startswith(b"retry:")
        yield Stream(response)


async def trigger(http: aiohttp.ClientSession, base: str, channels: list[str], name: str, data: str) -> None:
    path = f"/apps/{APP_ID}/events"
    body = json.dumps({"name": name, "channels": channels, "data": data}).encode()
    params = sign_params(APP_KEY, APP_SECRET, "POST", path, {}, body)
    async with http.post(base + path, params=params, data=body,
                         headers={"Content-Type": "application/json"}) as r:
        assert r.status == 200, await r.text()


async def sign_in(ws_url: str, user: str, watchlist: list[str] | None = None) -> WsClient:
    client = await WsClient.connect(ws_url)
    assert client.socket_id is not None
    user_data: dict[str, object] = {"id": user}
    if watchlist:
        user_data["watchlist"] = watchlist
    auth = user_auth_response(APP_KEY, APP_SECRET, client.socket_id, user_data)
    await client.send("pusher:signin", auth)
    await client.expect("pusher:signin_success")
    return client

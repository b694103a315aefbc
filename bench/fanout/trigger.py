"""Signed Pusher HTTP API triggers over one kept-alive HTTP/1.1 connection."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from bench.fanout.common import CHANNEL, EVENT_NAME, AppCreds, signed_events_target


class HttpError(RuntimeError):
    pass


class KeepAliveClient:
    """The smallest HTTP/1.1 client that keeps one connection open (Content-Length or chunked answers)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reconnects = -1

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.reconnects += 1

    async def request(self, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
        """One request; like any keep-alive client, resend once if a reused connection was closed by the
        server while idle (EOF or reset before any byte of the answer)."""
        reused = self.writer is not None and not self.writer.is_closing()
        try:
            return await self._request(method, target, body)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            self.close()
            return await self._request(method, target, body)

    async def _request(self, method: str, target: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            await self._connect()
        assert self.reader is not None and self.writer is not None
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            data = b"".join(chunks)
        else:
            data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def tick_body(seq: int, name: str = EVENT_NAME) -> bytes:
    data = json.dumps({"t": time.time_ns(), "seq": seq}, separators=(",", ":"))
    return json.dumps({"name": name, "channel": CHANNEL, "data": data}, separators=(",", ":")).encode()


@dataclass
class TriggerStats:
    sent: int = 0
    failed: int = 0
    first_error: str = ""
    request_ns: list[int] = field(default_factory=list)  # time from write to full answer, per trigger
    started_ns: int = 0
    finished_ns: int = 0
    first_send_ns: int = 0  # monotonic
    last_send_ns: int = 0  # monotonic

    def intervals(self) -> tuple[int, float]:
        """(gaps between consecutive sends, their total seconds): the achieved pace is their ratio."""
        return max(0, self.sent - 1), (self.last_send_ns - self.first_send_ns) / 1e9


async def trigger_one(client: KeepAliveClient, creds: AppCreds, body: bytes) -> tuple[int, bytes]:
    return await client.request("POST", signed_events_target(creds, body), body)


async def run_triggers(
    client: KeepAliveClient, creds: AppCreds, count: int, rate: float, stats: TriggerStats, name: str = EVENT_NAME
) -> None:
    """Send ``count`` events paced at ``rate`` per second on fixed deadlines (no sleep when behind)."""
    stats.started_ns = time.time_ns()
    start = time.monotonic()
    for seq in range(count):
        delay = start + seq / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        body = tick_body(seq, name)
        t0 = time.monotonic_ns()
        stats.first_send_ns = stats.first_send_ns or t0
        stats.last_send_ns = t0
        try:
            status, answer = await trigger_one(client, creds, body)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            status, answer = 0, repr(exc).encode()
            client.close()
        stats.request_ns.append(time.monotonic_ns() - t0)
        stats.sent += 1
        if status != 200:
            stats.failed += 1
            if not stats.first_error:
                stats.first_error = f"HTTP {status}: {answer[:200]!r}"
    stats.finished_ns = time.time_ns()

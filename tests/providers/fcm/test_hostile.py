"""FcmProvider against an FCM endpoint that misbehaves: each send ends within the deadline, in bounded memory.

Access tokens come from the emulator's token endpoint; `messages:send` goes to a local aiohttp server that
stalls, trickles or streams a huge body.
"""

from __future__ import annotations

import asyncio
import functools
import time
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from tests.providers.fcm.helpers import FakeClock, make_device, make_instance, make_publish
from tests.support.emulators.fcm import FcmEmulator, TestServiceAccount
from tidings.providers.base import Delivered, Outcome, Retry
from tidings.providers.fcm import FcmProvider

DEADLINE = 1.5
SLACK = 5.0  # generous: only "ended near the deadline" versus "hung" matters
HUGE = 200 << 20
MEMORY_BOUND = 20 << 20


@dataclass
class Endpoint:
    url: str = ""
    mode: str = "trickle"  # trickle | silent | huge200 | huge500


async def _send(endpoint: Endpoint, request: web.Request) -> web.StreamResponse:
    await request.read()
    mode = endpoint.mode
    if mode == "silent":
        await asyncio.sleep(3600)
    response = web.StreamResponse(status=500 if mode == "huge500" else 200)
    response.content_type = "application/json"
    response.enable_chunked_encoding()
    await response.prepare(request)
    if mode == "trickle":
        while True:
            await response.write(b" ")
            await asyncio.sleep(2)
    block = b" " * 65536
    for _ in range(HUGE // len(block)):
        await response.write(block)
    await response.write_eof()
    return response


@pytest.fixture
async def hostile() -> AsyncIterator[Endpoint]:
    endpoint = Endpoint()
    app = web.Application()
    app.router.add_post("/v1/projects/{project}/messages:send", functools.partial(_send, endpoint))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    endpoint.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield endpoint
    await runner.cleanup()


async def _send_one(
    endpoint: Endpoint, fcm: FcmEmulator, account: TestServiceAccount, clock: FakeClock, mode: str, timeout: float
) -> tuple[Outcome, float, int]:
    endpoint.mode = mode
    provider = FcmProvider(endpoint.url, fcm.token_url, None, clock=clock, timeout=timeout)
    tracemalloc.start()
    try:
        started = time.monotonic()
        outcome = await provider.send(make_instance({"service_account": account.info}), make_device(), make_publish())
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await provider.close()
    return outcome, elapsed, peak


async def test_a_body_trickling_a_byte_every_2_s_is_a_retry_within_the_deadline(
    hostile: Endpoint, fcm: FcmEmulator, account: TestServiceAccount, clock: FakeClock
) -> None:
    outcome, elapsed, _ = await _send_one(hostile, fcm, account, clock, "trickle", DEADLINE)
    assert outcome == Retry(f"FCM did not answer in full within {DEADLINE:g}s")
    assert elapsed < DEADLINE + SLACK


async def test_an_endpoint_that_never_answers_is_a_retry_within_the_deadline(
    hostile: Endpoint, fcm: FcmEmulator, account: TestServiceAccount, clock: FakeClock
) -> None:
    outcome, elapsed, _ = await _send_one(hostile, fcm, account, clock, "silent", DEADLINE)
    assert isinstance(outcome, Retry)
    assert elapsed < DEADLINE + SLACK


async def test_200_with_a_200_mb_body_is_delivered_in_bounded_memory(
    hostile: Endpoint, fcm: FcmEmulator, account: TestServiceAccount, clock: FakeClock
) -> None:
    outcome, _, peak = await _send_one(hostile, fcm, account, clock, "huge200", 30)
    assert outcome == Delivered(200)
    assert peak < MEMORY_BOUND


async def test_500_with_a_200_mb_body_is_a_retry_in_bounded_memory(
    hostile: Endpoint, fcm: FcmEmulator, account: TestServiceAccount, clock: FakeClock
) -> None:
    outcome, _, peak = await _send_one(hostile, fcm, account, clock, "huge500", 30)
    assert outcome == Retry("HTTP 500", None, 500)
    assert peak < MEMORY_BOUND

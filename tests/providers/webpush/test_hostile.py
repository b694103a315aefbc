"""WebPushProvider against push endpoints that misbehave: each send ends within the deadline, in bounded memory.

The endpoints are a local aiohttp server on 127.0.0.1 (conftest's settings allow private networks).
"""

from __future__ import annotations

import asyncio
import secrets
import time
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.emulators.webpush import EmulatedSubscription
from tidings.beams.models import Device, Instance
from tidings.providers.base import Delivered, Retry
from tidings.providers.webpush import WebPushProvider

from .conftest import FakeClock, GatewaySettings, make_device, make_publish

WEB = {"notification": {"title": "Hello", "body": "World"}}
DEADLINE = 1.5
SLACK = 5.0  # generous: only "ended near the deadline" versus "hung" matters
HUGE = 200 << 20  # bytes
MEMORY_BOUND = 20 << 20


async def _trickle(request: web.Request) -> web.StreamResponse:
    """201, then one byte of body every 2 s, for ever: a read timeout restarting at each byte never fires."""
    await request.read()
    response = web.StreamResponse(status=201)
    response.enable_chunked_encoding()
    await response.prepare(request)
    while True:
        await response.write(b"x")
        await asyncio.sleep(2)


async def _huge(request: web.Request) -> web.StreamResponse:
    """The status named in the path, then 200 MB of body made on the fly (chunked), as fast as the client reads."""
    await request.read()
    response = web.StreamResponse(status=int(request.match_info["status"]))
    response.enable_chunked_encoding()
    await response.prepare(request)
    block = b"x" * 65536
    for _ in range(HUGE // len(block)):
        await response.write(block)
    await response.write_eof()
    return response


async def _silent(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def _created(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=201)


@pytest.fixture
async def endpoint() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/trickle", _trickle)
    app.router.add_post("/huge/{status}", _huge)
    app.router.add_post("/silent", _silent)
    app.router.add_post("/created", _created)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def provider(clock: FakeClock) -> AsyncIterator[WebPushProvider]:
    web_push = WebPushProvider(GatewaySettings(), clock=clock, timeout=DEADLINE)
    yield web_push
    await web_push.close()


def device_at(instance: Instance, url: str) -> Device:
    subscription = EmulatedSubscription(
        id=secrets.token_urlsafe(8),
        endpoint=url,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        auth_secret=secrets.token_bytes(16),
    )
    return make_device(instance, subscription)


async def test_201_then_a_body_trickling_a_byte_every_2_s_is_a_retry_within_the_deadline(
    provider: WebPushProvider, endpoint: str, instance: Instance
) -> None:
    started = time.monotonic()
    outcome = await provider.send(instance, device_at(instance, f"{endpoint}/trickle"), make_publish(instance, web=WEB))
    assert time.monotonic() - started < DEADLINE + SLACK
    assert outcome == Retry(f"push service did not answer in full within {DEADLINE:g}s")


async def test_an_endpoint_that_never_answers_is_a_retry_within_the_deadline(
    provider: WebPushProvider, endpoint: str, instance: Instance
) -> None:
    started = time.monotonic()
    outcome = await provider.send(instance, device_at(instance, f"{endpoint}/silent"), make_publish(instance, web=WEB))
    assert time.monotonic() - started < DEADLINE + SLACK
    assert isinstance(outcome, Retry)


async def test_201_with_a_200_mb_body_is_delivered_in_bounded_memory(
    clock: FakeClock, endpoint: str, instance: Instance
) -> None:
    provider = WebPushProvider(GatewaySettings(), clock=clock, timeout=30)
    tracemalloc.start()
    try:
        outcome = await provider.send(
            instance, device_at(instance, f"{endpoint}/huge/201"), make_publish(instance, web=WEB)
        )
        _, peak = tracemalloc.get_traced_memory()
        # The cut answer's connection was closed, not put back half-read: the next send works.
        publish = make_publish(instance, web=WEB)
        after = await provider.send(instance, device_at(instance, f"{endpoint}/created"), publish)
    finally:
        tracemalloc.stop()
        await provider.close()
    assert outcome == Delivered(201)
    assert after == Delivered(201)
    assert peak < MEMORY_BOUND


async def test_500_with_a_200_mb_body_is_a_retry_in_bounded_memory(
    clock: FakeClock, endpoint: str, instance: Instance
) -> None:
    provider = WebPushProvider(GatewaySettings(), clock=clock, timeout=30)
    tracemalloc.start()
    try:
        outcome = await provider.send(
            instance, device_at(instance, f"{endpoint}/huge/500"), make_publish(instance, web=WEB)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await provider.close()
    assert outcome == Retry("x" * 200, None, 500)  # the reason: the first bytes, one line, 200 characters at most
    assert peak < MEMORY_BOUND

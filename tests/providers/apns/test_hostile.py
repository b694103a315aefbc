"""ApnsProvider against a gateway that misbehaves: every request ends within the deadline, in bounded memory."""

from __future__ import annotations

import asyncio
import secrets
import time
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tidings.beams.models import Device, Instance
from tidings.providers.apns import ApnsProvider
from tidings.providers.base import Delivered, Failed, Retry

from ..h2server import Exchange, H2Server, stream_forever
from .conftest import ALERT, FakeClock, make_device, make_instance, make_publish

DEADLINE = 1.5
SLACK = 5.0  # generous: only "ended near the deadline" versus "hung" matters


def _instance() -> Instance:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return make_instance({"key_id": "ABC123DEFG", "team_id": "DEF123GHIJ", "private_key": pem})


@pytest.fixture
def instance() -> Instance:
    return _instance()


@pytest.fixture
def device(instance: Instance) -> Device:
    return make_device(instance, secrets.token_hex(32))


@pytest.fixture
async def gateway() -> AsyncIterator[H2Server]:
    async with H2Server() as server:
        yield server


@pytest.fixture
async def provider(gateway: H2Server, clock: FakeClock) -> AsyncIterator[ApnsProvider]:
    apns = ApnsProvider(gateway.url, gateway.url, gateway.ca_file, clock=clock, timeout=DEADLINE)
    yield apns
    await apns.close()


async def test_headers_then_a_stalled_body_is_a_retry_within_the_deadline(
    provider: ApnsProvider, gateway: H2Server, instance: Instance, device: Device
) -> None:
    async def stall(exchange: Exchange) -> None:
        exchange.send_headers(200, [("apns-id", "a")])
        await asyncio.sleep(3600)

    gateway.handler = stall
    started = time.monotonic()
    outcome = await provider.send(instance, device, make_publish(instance, apns=ALERT))
    assert time.monotonic() - started < DEADLINE + SLACK
    assert isinstance(outcome, Retry) and outcome.reason.startswith("RequestTimeout")
    assert device.token not in outcome.reason


async def test_a_body_trickling_one_byte_at_a_time_is_a_retry_within_the_deadline(
    provider: ApnsProvider, gateway: H2Server, instance: Instance, device: Device
) -> None:
    async def trickle(exchange: Exchange) -> None:
        exchange.send_headers(500, [("content-type", "application/json")])
        for byte in b'{"reason":"InternalServerError"}':
            await exchange.send_data(bytes([byte]))
            await asyncio.sleep(0.5)

    gateway.handler = trickle
    started = time.monotonic()
    outcome = await provider.send(instance, device, make_publish(instance, apns=ALERT))
    assert time.monotonic() - started < DEADLINE + SLACK
    assert isinstance(outcome, Retry) and outcome.reason.startswith("RequestTimeout")


async def test_a_500_with_a_200_mb_body_is_a_retry_in_bounded_memory(
    provider: ApnsProvider, gateway: H2Server, instance: Instance, device: Device
) -> None:
    gateway.handler = lambda exchange: stream_forever(exchange, status=500)
    tracemalloc.start()
    try:
        outcome = await provider.send(instance, device, make_publish(instance, apns=ALERT))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome == Retry("HTTP 500", None, 500)  # the cut body is not JSON: classified on the status alone
    assert peak < 20 << 20


async def test_a_200_with_a_200_mb_body_is_delivered_in_bounded_memory(
    provider: ApnsProvider, gateway: H2Server, instance: Instance, device: Device
) -> None:
    gateway.handler = stream_forever
    tracemalloc.start()
    try:
        outcome = await provider.send(instance, device, make_publish(instance, apns=ALERT))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome == Delivered(200)
    assert peak < 20 << 20


async def test_goaway_above_the_stream_is_a_retry_and_the_next_send_reconnects(
    provider: ApnsProvider, gateway: H2Server, instance: Instance, device: Device
) -> None:
    async def goaway(exchange: Exchange) -> None:
        exchange.connection.goaway(last_stream_id=0, code=0, data=b'{"reason":"Shutdown"}')

    gateway.handler = goaway
    outcome = await provider.send(instance, device, make_publish(instance, apns=ALERT))
    assert isinstance(outcome, Retry) and "StreamRefused" in outcome.reason and "Shutdown" in outcome.reason

    gateway.handler = lambda exchange: exchange.respond(200)
    assert await provider.send(instance, device, make_publish(instance, apns=ALERT)) == Delivered(200)
    assert len(gateway.connections) == 2


async def test_a_connection_dropped_mid_answer_is_a_retry(
    provider: ApnsProvider, gateway: H2Server, instance: Instance, device: Device
) -> None:
    async def drop(exchange: Exchange) -> None:
        exchange.send_headers(200)
        await asyncio.sleep(0.05)
        exchange.connection.drop()

    gateway.handler = drop
    outcome = await provider.send(instance, device, make_publish(instance, apns=ALERT))
    assert isinstance(outcome, Retry) and outcome.reason.startswith("ConnectionClosed")


async def test_a_header_value_http2_cannot_carry_fails_without_reaching_the_gateway(
    provider: ApnsProvider, gateway: H2Server, instance: Instance
) -> None:
    device = make_device(instance, secrets.token_hex(32), bundle_identifier="com.example.app\r\nx-injected: 1")
    outcome = await provider.send(instance, device, make_publish(instance, apns=ALERT))
    assert isinstance(outcome, Failed) and "apns-topic" in outcome.reason
    assert gateway.requests == []


async def test_a_gateway_url_that_is_not_https_is_refused_at_construction(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="https"):
        ApnsProvider("http://127.0.0.1:1", "https://127.0.0.1:2", None, clock=clock)

"""Every push service answer maps to the right Outcome (driven through the emulator's programmed answers)."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from tests.providers.webpush.conftest import FakeClock, make_device, make_publish
from tests.support.emulators.webpush import EmulatedSubscription, WebPushEmulator
from tidings.beams.models import Instance
from tidings.providers.base import DeadToken, Delivered, Failed, Outcome, Retry
from tidings.providers.webpush import WebPushProvider

WEB = {"notification": {"title": "Hi"}}


async def _send(provider: WebPushProvider, instance: Instance, subscription: EmulatedSubscription) -> Outcome:
    return await provider.send(instance, make_device(instance, subscription), make_publish(instance, web=WEB))


@pytest.mark.parametrize("status", [200, 201, 202])
async def test_accepted(
    status: int,
    provider: WebPushProvider,
    push: WebPushEmulator,
    instance: Instance,
    subscription: EmulatedSubscription,
) -> None:
    push.answer(status, subscription=subscription)
    assert await _send(provider, instance, subscription) == Delivered(status)


@pytest.mark.parametrize("status", [404, 410])
async def test_gone_subscription_is_a_dead_token(
    status: int,
    provider: WebPushProvider,
    push: WebPushEmulator,
    instance: Instance,
    subscription: EmulatedSubscription,
) -> None:
    push.answer(status, subscription=subscription, body='{"errno": 106, "message": "push subscription expired"}')
    assert await _send(provider, instance, subscription) == DeadToken("push subscription expired", status)


async def test_unknown_subscription_is_a_dead_token(
    provider: WebPushProvider, push: WebPushEmulator, instance: Instance, subscription: EmulatedSubscription
) -> None:
    push.forget(subscription)
    outcome = await _send(provider, instance, subscription)
    assert isinstance(outcome, DeadToken) and outcome.status == 404


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_busy_or_broken_service_is_retried_after_its_retry_after(
    status: int,
    provider: WebPushProvider,
    push: WebPushEmulator,
    instance: Instance,
    subscription: EmulatedSubscription,
) -> None:
    push.answer(status, subscription=subscription, retry_after=30)
    outcome = await _send(provider, instance, subscription)
    assert isinstance(outcome, Retry)
    assert (outcome.status, outcome.after) == (status, 30.0)


async def test_retry_after_as_http_date(
    provider: WebPushProvider,
    push: WebPushEmulator,
    instance: Instance,
    subscription: EmulatedSubscription,
    clock: FakeClock,
) -> None:
    push.answer(429, subscription=subscription, retry_after=formatdate(clock.now + 120, usegmt=True))
    outcome = await _send(provider, instance, subscription)
    assert isinstance(outcome, Retry) and outcome.after == 120.0


async def test_retry_without_retry_after(
    provider: WebPushProvider, push: WebPushEmulator, instance: Instance, subscription: EmulatedSubscription
) -> None:
    push.answer(500, subscription=subscription)
    assert await _send(provider, instance, subscription) == Retry("push service busy", None, 500)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "push service answered 400"),
        (401, "VAPID authorization refused"),
        (403, "VAPID authorization refused"),
        (413, "payload too large"),
        (422, "push service answered 422"),
    ],
)
async def test_other_client_errors_fail_the_notification(
    status: int,
    reason: str,
    provider: WebPushProvider,
    push: WebPushEmulator,
    instance: Instance,
    subscription: EmulatedSubscription,
) -> None:
    push.answer(status, subscription=subscription)
    assert await _send(provider, instance, subscription) == Failed(reason, status)


async def test_next_n_requests_then_back_to_201(
    provider: WebPushProvider, push: WebPushEmulator, instance: Instance, subscription: EmulatedSubscription
) -> None:
    push.answer(503, times=2)
    outcomes = [await _send(provider, instance, subscription) for _ in range(3)]
    assert [type(o) for o in outcomes] == [Retry, Retry, Delivered]
    # The emulator still verified and decrypted the refused ones: the requests were well formed.
    assert all(got.message is not None for got in push.received)

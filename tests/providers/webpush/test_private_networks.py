"""Send time: unless push_allow_private_networks is on, Web Push connects only to public addresses (no SSRF).

The push service emulator on 127.0.0.1 plays the internal server an attacker would aim at; FakeDns plays DNS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest

from tests.providers.webpush.conftest import FakeClock, GatewaySettings, make_device, make_publish
from tests.support.emulators.webpush import EmulatedSubscription, WebPushEmulator
from tests.support.fake_dns import PUBLIC_V4, FakeDns
from tidings.beams.models import Instance
from tidings.providers import netguard
from tidings.providers.base import Failed, Retry
from tidings.providers.webpush import WebPushProvider, make_http_client

WEB = {"notification": {"title": "Hello", "body": "World"}}
REFUSED = Failed("push endpoint resolves to a private address", status=0)

MakeProvider = Callable[..., WebPushProvider]


@pytest.fixture
async def make_provider(clock: FakeClock) -> AsyncIterator[MakeProvider]:
    """A provider whose client resolves names with `dns`; private networks refused unless `allow`."""
    made: list[WebPushProvider] = []

    def make(dns: FakeDns, *, allow: bool = False) -> WebPushProvider:
        settings = GatewaySettings(push_allow_private_networks=allow)
        provider = WebPushProvider(settings, http=make_http_client(settings, dns=dns), clock=clock)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        assert provider._http is not None
        await provider._http.close()


def at_host(subscription: EmulatedSubscription, host: str) -> EmulatedSubscription:
    """The same subscription with another host in its endpoint (the emulator's port kept)."""
    return replace(subscription, endpoint=subscription.endpoint.replace("127.0.0.1", host, 1))


async def test_a_name_that_resolves_to_loopback_is_refused_before_connecting(
    make_provider: MakeProvider, push: WebPushEmulator, instance: Instance, subscription: EmulatedSubscription
) -> None:
    dns = FakeDns({"push.test": ["127.0.0.1"]})
    device = make_device(instance, at_host(subscription, "push.test"))

    outcome = await make_provider(dns).send(instance, device, make_publish(instance, web=WEB))

    assert outcome == REFUSED
    assert dns.asked == ["push.test"]
    assert push.received == []


async def test_the_same_endpoint_is_reached_when_private_networks_are_allowed(
    make_provider: MakeProvider, push: WebPushEmulator, instance: Instance, subscription: EmulatedSubscription
) -> None:
    # The control for the test above: the refusal, not the setup, is what kept the request away.
    dns = FakeDns({"push.test": ["127.0.0.1"]})
    device = make_device(instance, at_host(subscription, "push.test"))

    await make_provider(dns, allow=True).send(instance, device, make_publish(instance, web=WEB))

    assert len(push.received) == 1  # (refused by the emulator: the VAPID audience names push.test)


async def test_a_name_rebound_to_loopback_after_registration_is_refused(
    make_provider: MakeProvider, push: WebPushEmulator, instance: Instance, subscription: EmulatedSubscription
) -> None:
    moved = at_host(subscription, "push.test")
    dns = FakeDns({"push.test": [PUBLIC_V4]})
    await netguard.check_url(moved.endpoint, dns)  # what registration checks: public then
    dns.answers["push.test"] = ["127.0.0.1"]  # ...and the attacker's DNS answers differently afterwards

    outcome = await make_provider(dns).send(instance, make_device(instance, moved), make_publish(instance, web=WEB))

    assert outcome == REFUSED
    assert push.received == []


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "[::1]", "10.1.2.3", "169.254.169.254"])
async def test_private_ip_literals_are_refused_without_dns(
    make_provider: MakeProvider,
    push: WebPushEmulator,
    instance: Instance,
    subscription: EmulatedSubscription,
    host: str,
) -> None:
    dns = FakeDns()
    device = make_device(instance, at_host(subscription, host))

    outcome = await make_provider(dns).send(instance, device, make_publish(instance, web=WEB))

    assert outcome == REFUSED
    assert dns.asked == []
    assert push.received == []


async def test_a_name_that_does_not_resolve_is_still_retried(
    make_provider: MakeProvider, push: WebPushEmulator, instance: Instance, subscription: EmulatedSubscription
) -> None:
    device = make_device(instance, at_host(subscription, "gone.test"))

    outcome = await make_provider(FakeDns()).send(instance, device, make_publish(instance, web=WEB))

    assert isinstance(outcome, Retry)

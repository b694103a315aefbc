"""One provider token per signing key for every process, through the shared store (the database).

Two `ProviderTokens` (or two providers) with their own caches and one store stand for two processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.support.emulators.apns import ApnsEmulator, SigningKey
from tidings.beams.models import Instance
from tidings.errors import StorageError
from tidings.providers.apns import ApnsProvider, parse_settings
from tidings.providers.apns.settings import ApnsSettings
from tidings.providers.apns.token import REFRESH_AFTER, STORE_RETRY, ProviderTokens
from tidings.providers.base import Delivered, Retry
from tidings.storage import GatewayToken, GatewayTokenStore, Storage, open_storage
from tidings.storage.schema import beams_gateway_tokens

from .conftest import ALERT, BUNDLE_ID, FakeClock, make_device, make_publish


class CountingStore(GatewayTokenStore):
    """The real store, counting round trips; `down` makes it fail as an unreachable database does."""

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage.engine)
        self.calls = 0
        self.down = False

    async def get_or_install(self, key: str, value: str, **kwargs: Any) -> GatewayToken:
        self.calls += 1
        if self.down:
            raise StorageError("saving a gateway token failed: database unreachable")
        return await super().get_or_install(key, value, **kwargs)


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    storage = await open_storage(f"sqlite+aiosqlite:///{tmp_path / 'tidings.db'}")
    await storage.migrate()
    yield storage
    await storage.close()


@pytest.fixture
def store(storage: Storage) -> CountingStore:
    return CountingStore(storage)


@pytest.fixture
def settings(key: SigningKey) -> ApnsSettings:
    return parse_settings(key.settings())


def iat(token: str) -> int:
    return int(jwt.decode(token, options={"verify_signature": False})["iat"])


async def test_a_second_process_adopts_the_stored_token(
    store: CountingStore, settings: ApnsSettings, clock: FakeClock
) -> None:
    first, second = ProviderTokens(clock, store=store), ProviderTokens(clock, store=store)
    token = await first.get(settings)
    clock.advance(60)
    assert await second.get(settings) == token  # signed a minute earlier by the other process
    assert store.calls == 2


async def test_the_cache_spares_the_database_until_the_refresh_time(
    store: CountingStore, settings: ApnsSettings, clock: FakeClock
) -> None:
    tokens = ProviderTokens(clock, store=store)
    # Concurrent first sends: one look-up, the others wait for it.
    got = await asyncio.gather(*(tokens.get(settings) for _ in range(20)))
    assert len(set(got)) == 1 and store.calls == 1
    clock.advance(REFRESH_AFTER - 1)
    assert await tokens.get(settings) == got[0]
    assert store.calls == 1
    clock.advance(1)
    assert await tokens.get(settings) != got[0]
    assert store.calls == 2


async def test_an_adopted_token_is_renewed_on_its_own_schedule(
    store: CountingStore, settings: ApnsSettings, clock: FakeClock
) -> None:
    """The refresh time runs from when the token was signed, not from when this process adopted it."""
    first, second = ProviderTokens(clock, store=store), ProviderTokens(clock, store=store)
    token = await first.get(settings)
    clock.advance(REFRESH_AFTER - 10)
    assert await second.get(settings) == token
    clock.advance(10)
    renewed = await second.get(settings)
    assert renewed != token and iat(renewed) == int(clock.now)
    assert await first.get(settings) == renewed  # the other process adopts it: one renewal for both


async def test_processes_renewing_at_once_share_one_new_token(
    store: CountingStore, settings: ApnsSettings, clock: FakeClock
) -> None:
    processes = [ProviderTokens(clock, store=store) for _ in range(5)]
    for round_ in range(3):
        got = await asyncio.gather(*(tokens.get(settings) for tokens in processes))
        assert len(set(got)) == 1, f"round {round_}"
        clock.advance(REFRESH_AFTER)


async def test_an_expired_token_is_replaced_once_for_every_process(
    store: CountingStore, settings: ApnsSettings, clock: FakeClock
) -> None:
    first, second = ProviderTokens(clock, store=store), ProviderTokens(clock, store=store)
    refused = await first.get(settings)
    assert await second.get(settings) == refused
    clock.advance(5)
    first.invalidate(settings, refused)  # both see 403 ExpiredProviderToken for it
    second.invalidate(settings, refused)
    replacement = await first.get(settings)
    assert replacement != refused
    assert await second.get(settings) == replacement  # not a third token: that would be throttled
    second.invalidate(settings, refused)  # a late answer for the old token changes nothing
    assert await second.get(settings) == replacement


async def test_the_store_key_names_the_key_but_holds_no_secret(
    storage: Storage, store: CountingStore, settings: ApnsSettings, clock: FakeClock
) -> None:
    await ProviderTokens(clock, store=store).get(settings)
    async with storage.engine.connect() as conn:
        (key,) = (await conn.execute(beams_gateway_tokens.select())).all()
    assert key.key == f"apns:{settings.team_id}:{settings.key_id}:{settings.key_fingerprint}"
    pem_body = "".join(settings.private_key.get_secret_value().splitlines()[1:-1])
    assert pem_body[:16] not in key.key
    assert isinstance(key.issued_at, datetime)


async def test_a_store_failure_falls_back_to_an_own_token_and_rejoins_later(
    store: CountingStore, settings: ApnsSettings, clock: FakeClock
) -> None:
    other = ProviderTokens(clock, store=store)
    shared = await other.get(settings)
    tokens = ProviderTokens(clock, store=store)
    store.down = True
    own = await tokens.get(settings)  # sends go on; this process signs for itself
    assert own != shared
    assert await tokens.get(settings) == own  # without asking the failing store on every send
    calls = store.calls
    clock.advance(STORE_RETRY)
    store.down = False
    assert await tokens.get(settings) == shared  # back on the shared token
    assert store.calls == calls + 1


async def test_a_token_signed_while_the_store_was_down_is_installed_without_a_new_iat(
    store: CountingStore, settings: ApnsSettings, clock: FakeClock
) -> None:
    tokens = ProviderTokens(clock, store=store)
    store.down = True
    own = await tokens.get(settings)
    clock.advance(STORE_RETRY)
    store.down = False
    assert await tokens.get(settings) == own  # nobody else had one: ours becomes the shared one
    assert await ProviderTokens(clock, store=store).get(settings) == own


# -- against the emulator, with Apple's renewal rule on ---------------------------------------------------


async def _send_from(providers: list[ApnsProvider], instance: Instance, tokens: list[str]) -> list[object]:
    publish = make_publish(instance, apns=ALERT)
    return list(
        await asyncio.gather(
            *(p.send(instance, make_device(instance, token), publish) for p in providers for token in tokens)
        )
    )


@pytest.fixture
async def two_providers(
    apns: ApnsEmulator, clock: FakeClock, store: CountingStore
) -> AsyncIterator[list[ApnsProvider]]:
    providers = [
        ApnsProvider(apns.url, apns.sandbox_url, apns.ca_file, clock=clock, token_store=store) for _ in range(2)
    ]
    yield providers
    for provider in providers:
        await provider.close()


async def test_two_providers_sharing_a_store_are_never_throttled(
    apns: ApnsEmulator, instance: Instance, clock: FakeClock, two_providers: list[ApnsProvider]
) -> None:
    tokens = [apns.register_device(topic=BUNDLE_ID) for _ in range(5)]
    for _ in range(3):  # across two renewals
        outcomes = await _send_from(two_providers, instance, tokens)
        assert outcomes == [Delivered(200)] * 10
        clock.advance(7)
        assert await _send_from(two_providers[::-1], instance, tokens) == [Delivered(200)] * 10
        clock.advance(REFRESH_AFTER)
    assert not apns.received(status=429)
    assert len({r.jwt for r in apns.requests}) == 3


async def test_without_the_store_the_second_provider_is_throttled(
    apns: ApnsEmulator, instance: Instance, token: str, clock: FakeClock
) -> None:
    """The emulator enforces Apple's rule: what two processes each signing their own token ran into."""
    providers = [ApnsProvider(apns.url, apns.sandbox_url, apns.ca_file, clock=clock) for _ in range(2)]
    try:
        publish = make_publish(instance, apns=ALERT)
        assert await providers[0].send(instance, make_device(instance, token), publish) == Delivered(200)
        clock.advance(1)
        outcome = await providers[1].send(instance, make_device(instance, token), publish)
    finally:
        for provider in providers:
            await provider.close()
    assert isinstance(outcome, Retry) and outcome.reason == "TooManyProviderTokenUpdates"

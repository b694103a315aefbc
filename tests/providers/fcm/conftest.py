from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.providers.fcm.helpers import FakeClock
from tests.support.emulators.fcm import FcmEmulator, TestServiceAccount
from tidings.providers.fcm import FcmProvider


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def fcm(clock: FakeClock) -> AsyncIterator[FcmEmulator]:
    # The emulator shares the provider's clock: token expiry and assertion times are judged on the same time line.
    async with FcmEmulator(clock=clock) as emulator:
        yield emulator


@pytest.fixture
def account(fcm: FcmEmulator) -> TestServiceAccount:
    return fcm.new_service_account("tidings-test")


@pytest.fixture
async def provider(fcm: FcmEmulator, clock: FakeClock) -> AsyncIterator[FcmProvider]:
    fcm_provider = FcmProvider(fcm.url, fcm.token_url, None, clock=clock)
    yield fcm_provider
    await fcm_provider.close()

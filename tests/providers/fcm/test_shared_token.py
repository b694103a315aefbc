"""One FCM access token per service account for every process, through the shared store (the database).

Two `FcmProvider`s with their own caches and one store stand for two processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.providers.fcm.helpers import FakeClock, make_device, make_instance, make_publish
from tests.support.emulators.fcm import FcmEmulator, TestServiceAccount
from tidings.errors import StorageError
from tidings.providers.base import Delivered, Outcome, Retry
from tidings.providers.fcm import FcmProvider, parse_settings
from tidings.providers.fcm.credentials import CLAIM_RECHECK, REFRESH_MARGIN
from tidings.storage import GatewayToken, GatewayTokenStore, Storage, open_storage
from tidings.storage.schema import beams_gateway_tokens


class FlakyStore(GatewayTokenStore):
    """The real store; `down` makes it fail as an unreachable database does."""

    down = False

    async def get(self, key: str) -> GatewayToken | None:
        if self.down:
            raise StorageError("reading a gateway token failed: database unreachable")
        return await super().get(key)

    async def get_or_install(self, key: str, value: str, **kwargs: Any) -> GatewayToken:
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
def store(storage: Storage) -> FlakyStore:
    return FlakyStore(storage.engine)


@pytest.fixture
async def processes(fcm: FcmEmulator, clock: FakeClock, store: FlakyStore) -> AsyncIterator[list[FcmProvider]]:
    providers = [FcmProvider(fcm.url, fcm.token_url, None, clock=clock, token_store=store) for _ in range(2)]
    yield providers
    for provider in providers:
        await provider.close()


async def send(provider: FcmProvider, account: TestServiceAccount) -> Outcome:
    return await provider.send(make_instance({"service_account": account.info}), make_device(), make_publish())


async def send_from_both(processes: list[FcmProvider], account: TestServiceAccount, each: int = 10) -> list[Outcome]:
    return list(await asyncio.gather(*(send(p, account) for p in processes for _ in range(each))))


async def warm_up(processes: list[FcmProvider], account: TestServiceAccount) -> None:
    """Each process sends once, one after the other: one grant, the stored token adopted by the second."""
    for provider in processes:
        assert await send(provider, account) == Delivered(200)


async def test_two_processes_make_one_token_grant(
    fcm: FcmEmulator, account: TestServiceAccount, processes: list[FcmProvider], clock: FakeClock
) -> None:
    first, second = processes
    assert await send(first, account) == Delivered(200)
    clock.advance(60)
    assert await send(second, account) == Delivered(200)
    assert await send_from_both(processes, account) == [Delivered(200)] * 20
    assert fcm.tokens_issued == 1
    assert len({m.access_token for m in fcm.received}) == 1


async def test_a_due_token_is_refreshed_by_one_process_while_the_other_keeps_using_it(
    fcm: FcmEmulator, account: TestServiceAccount, processes: list[FcmProvider], clock: FakeClock
) -> None:
    await warm_up(processes, account)
    old = fcm.received[-1].access_token
    clock.advance(fcm.expires_in - REFRESH_MARGIN + 1)  # due, still valid for almost REFRESH_MARGIN
    assert await send_from_both(processes, account) == [Delivered(200)] * 20
    assert fcm.tokens_issued == 2  # one refresh for both
    clock.advance(CLAIM_RECHECK)
    fcm.reset()
    assert await send_from_both(processes, account) == [Delivered(200)] * 20
    used = {m.access_token for m in fcm.received}
    assert len(used) == 1 and old not in used  # both on the new token
    assert fcm.tokens_issued == 0


async def test_a_token_both_saw_refused_is_replaced_once(
    fcm: FcmEmulator, account: TestServiceAccount, processes: list[FcmProvider]
) -> None:
    first, second = processes
    await warm_up(processes, account)
    fcm.revoke_access_tokens()
    for provider in processes:
        outcome = await send(provider, account)
        assert isinstance(outcome, Retry) and outcome.status == 401
    assert await send(first, account) == Delivered(200)
    assert await send(second, account) == Delivered(200)  # adopts the first's replacement
    assert fcm.tokens_issued == 2
    # A late 401 for the revoked token (a send that was in flight) does not replace the new one.
    revoked = fcm.received[0].access_token
    assert revoked is not None
    second.tokens.invalidate(parse_settings({"service_account": account.info}).service_account, revoked)
    assert await send(second, account) == Delivered(200)
    assert fcm.tokens_issued == 2


async def test_racing_first_sends_settle_on_one_token(
    fcm: FcmEmulator, account: TestServiceAccount, processes: list[FcmProvider]
) -> None:
    """Processes starting at once may each make a grant, but all but one are dropped: one token is used."""
    assert await send_from_both(processes, account) == [Delivered(200)] * 20
    assert fcm.tokens_issued <= 2
    fcm.reset()
    assert await send_from_both(processes, account) == [Delivered(200)] * 20
    assert len({m.access_token for m in fcm.received}) == 1


async def test_a_store_failure_does_not_stop_sending(
    fcm: FcmEmulator, account: TestServiceAccount, processes: list[FcmProvider], store: FlakyStore
) -> None:
    store.down = True
    assert await send_from_both(processes, account, each=3) == [Delivered(200)] * 6
    assert fcm.tokens_issued == 2  # each process on a token of its own, one grant each


async def test_the_store_key_names_the_account_but_holds_no_secret(
    storage: Storage, account: TestServiceAccount, processes: list[FcmProvider]
) -> None:
    await send(processes[0], account)
    async with storage.engine.connect() as conn:
        (row,) = (await conn.execute(beams_gateway_tokens.select())).all()
    assert row.key.startswith(f"fcm:{account.client_email}:{account.info['private_key_id']}:")
    pem_body = "".join(account.private_key_pem.splitlines()[1:-1])
    assert pem_body[:16] not in row.key

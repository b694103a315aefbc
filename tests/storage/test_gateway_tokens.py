"""GatewayTokenStore on SQLite and PostgreSQL: one token per key, installed by whoever finds it missing or due."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tidings.storage import GatewayToken, Storage, open_storage

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def due(now: datetime) -> datetime:
    """APNs' rule: a token issued 50 minutes or more before `now` is due for renewal."""
    return now - timedelta(minutes=50) + timedelta(seconds=1)


@pytest.fixture
def key() -> str:
    # The PostgreSQL database is shared by the session: every test has its own key.
    return f"test:{uuid.uuid4()}"


@pytest.fixture
async def others(backend_url: str, storage: Storage) -> AsyncIterator[list[Storage]]:
    """Eight more Storage objects on the same database: eight processes' own connections."""
    opened = [await open_storage(backend_url) for _ in range(8)]
    yield opened
    for other in opened:
        await other.close()


async def install(storage: Storage, key: str, value: str, issued_at: datetime = T0, **due: object) -> GatewayToken:
    return await storage.gateway_tokens.get_or_install(
        key,
        value,
        issued_at=issued_at,
        expires_at=issued_at + HOUR,
        **due,  # type: ignore[arg-type]
    )


async def test_nothing_stored(storage: Storage, key: str) -> None:
    assert await storage.gateway_tokens.get(key) is None


async def test_the_first_token_is_installed_and_then_kept(storage: Storage, key: str) -> None:
    first = await install(storage, key, "first", issued_before=due(T0))
    assert first == GatewayToken("first", T0, T0 + HOUR)
    later = T0 + timedelta(minutes=49)
    assert (await install(storage, key, "second", later, issued_before=due(later))).value == "first"
    assert await storage.gateway_tokens.get(key) == first


async def test_a_token_issued_before_the_threshold_is_replaced(storage: Storage, key: str) -> None:
    await install(storage, key, "first")
    later = T0 + timedelta(minutes=50)
    renewed = await install(storage, key, "second", later, issued_before=due(later))
    assert renewed == GatewayToken("second", later, later + HOUR)
    assert await storage.gateway_tokens.get(key) == renewed


async def test_a_token_expiring_before_the_threshold_is_replaced(storage: Storage, key: str) -> None:
    await install(storage, key, "first")
    assert (await install(storage, key, "second", expires_before=T0 + HOUR)).value == "first"
    assert (await install(storage, key, "second", expires_before=T0 + HOUR + timedelta(seconds=1))).value == "second"


async def test_a_rejected_token_is_replaced_only_while_it_is_still_the_stored_one(storage: Storage, key: str) -> None:
    await install(storage, key, "first")
    assert (await install(storage, key, "second", rejected="first")).value == "second"
    # A late rejection of "first" (another process, or a request that was in flight) keeps "second".
    assert (await install(storage, key, "third", rejected="first")).value == "second"


async def test_without_a_condition_only_a_missing_token_is_installed(storage: Storage, key: str) -> None:
    assert (await install(storage, key, "first")).value == "first"
    assert (await install(storage, key, "second")).value == "first"


async def test_keys_are_independent(storage: Storage, key: str) -> None:
    await install(storage, key, "first")
    assert (await install(storage, key + ":other", "second")).value == "second"
    assert (await storage.gateway_tokens.get(key)) == GatewayToken("first", T0, T0 + HOUR)


async def test_the_value_is_not_in_the_repr() -> None:
    assert "s3cret" not in repr(GatewayToken("s3cret", T0, T0 + HOUR))


async def test_racing_first_installs_agree_on_one_token(key: str, others: list[Storage]) -> None:
    got = await asyncio.gather(
        *(install(other, key, f"token-{n}", issued_before=due(T0)) for n, other in enumerate(others))
    )
    assert len({token.value for token in got}) == 1
    assert got[0].value in {f"token-{n}" for n in range(len(others))}


async def test_racing_renewals_of_a_due_token_agree_on_one_new_token(
    storage: Storage, key: str, others: list[Storage]
) -> None:
    await install(storage, key, "old")
    for round_ in range(3):  # a few rounds: the race has more than one chance to go wrong
        now = T0 + (round_ + 1) * timedelta(minutes=50)
        got = await asyncio.gather(
            *(install(other, key, f"round-{round_}-{n}", now, issued_before=due(now)) for n, other in enumerate(others))
        )
        values = {token.value for token in got}
        assert len(values) == 1 and values.pop().startswith(f"round-{round_}-")


async def test_racing_rejections_replace_the_token_once(storage: Storage, key: str, others: list[Storage]) -> None:
    await install(storage, key, "refused")
    got = await asyncio.gather(
        *(install(other, key, f"token-{n}", rejected="refused") for n, other in enumerate(others))
    )
    values = {token.value for token in got}
    assert len(values) == 1 and values != {"refused"}

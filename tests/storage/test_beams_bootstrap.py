"""ensure_default_instance: the configured instance, a generated one, or the oldest one, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

import pytest

from tests.storage.test_beams_instances import clear_beams, make_instance
from tidings.beams.models import Instance
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.storage import Storage
from tidings.storage.bootstrap import ensure_default_instance

CONFIGURED = {
    "default_instance_id": "0c0ffee0-0000-4000-8000-00000000c0de",
    "default_instance_secret": "configured-secret",
}


class Maker:
    """Stands in for the real factory: each call is a new instance with new (fake) VAPID keys."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str | None]] = []
        self._serial = itertools.count(1)

    def __call__(self, instance_id: str | None, secret: str | None) -> Instance:
        self.calls.append((instance_id, secret))
        n = next(self._serial)
        return Instance(
            id=instance_id or f"generated-{n}",
            secret_key=secret or f"generated-secret-{n}",
            name="default",
            vapid_private_key=f"private-{n}",
            vapid_public_key=f"public-{n}",
        )


def settings(**values: object) -> Settings:
    return Settings.model_validate(values)


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    await clear_beams(storage)
    return storage


@pytest.mark.parametrize("missing", ["default_instance_id", "default_instance_secret"])
async def test_id_without_secret_or_secret_without_id_is_a_config_error(beams: Storage, missing: str) -> None:
    values = {k: v for k, v in CONFIGURED.items() if k != missing}

    with pytest.raises(ConfigError, match="TIDINGS_DEFAULT_INSTANCE_ID and TIDINGS_DEFAULT_INSTANCE_SECRET"):
        await ensure_default_instance(settings(**values), beams.instances, make=Maker())

    assert await beams.instances.count() == 0


async def test_configured_instance_is_created(beams: Storage) -> None:
    make = Maker()

    instance, created = await ensure_default_instance(settings(**CONFIGURED), beams.instances, make=make)

    assert created is True
    assert make.calls == [("0c0ffee0-0000-4000-8000-00000000c0de", "configured-secret")]
    assert instance == Instance(
        id="0c0ffee0-0000-4000-8000-00000000c0de",
        secret_key="configured-secret",
        name="default",
        vapid_private_key="private-1",
        vapid_public_key="public-1",
    )
    assert await beams.instances.list() == [instance]


async def test_configured_instance_that_exists_gets_the_secret_and_keeps_the_rest(beams: Storage) -> None:
    stored = make_instance("0c0ffee0-0000-4000-8000-00000000c0de", name="mine", providers={"fcm": {"project": "p"}})
    await beams.instances.create(stored)

    instance, created = await ensure_default_instance(settings(**CONFIGURED), beams.instances, make=Maker())

    assert created is False
    assert instance == stored.model_copy(update={"secret_key": "configured-secret"})
    assert await beams.instances.get("0c0ffee0-0000-4000-8000-00000000c0de") == instance

    again, created_again = await ensure_default_instance(settings(**CONFIGURED), beams.instances, make=Maker())
    assert (again, created_again) == (instance, False)


async def test_configured_instance_is_added_beside_existing_ones(beams: Storage) -> None:
    await beams.instances.create(make_instance("older"))

    instance, created = await ensure_default_instance(settings(**CONFIGURED), beams.instances, make=Maker())

    assert created is True
    assert [i.id for i in await beams.instances.list()] == ["older", "0c0ffee0-0000-4000-8000-00000000c0de"]
    assert instance.id == "0c0ffee0-0000-4000-8000-00000000c0de"


async def test_empty_database_gets_a_generated_instance(beams: Storage) -> None:
    make = Maker()

    instance, created = await ensure_default_instance(settings(), beams.instances, make=make)

    assert created is True
    assert make.calls == [(None, None)]
    assert instance.id == "generated-1"
    assert await beams.instances.list() == [instance]


async def test_without_configuration_the_oldest_instance_is_returned_untouched(beams: Storage) -> None:
    oldest = await beams.instances.create(make_instance("b-oldest"))
    await beams.instances.create(make_instance("a-newer"))
    make = Maker()

    instance, created = await ensure_default_instance(settings(), beams.instances, make=make)

    assert (instance, created) == (oldest, False)
    assert make.calls == []
    assert await beams.instances.count() == 2


async def test_a_restart_returns_the_same_generated_instance(beams: Storage) -> None:
    first, _ = await ensure_default_instance(settings(), beams.instances, make=Maker())

    again, created = await ensure_default_instance(settings(), beams.instances, make=Maker())

    assert (again, created) == (first, False)

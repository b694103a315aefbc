"""ensure_default_app: the configured app, a generated one, or the oldest one, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from tidings.channels.apps import App, AppLimits
from tidings.channels.credentials import new_app
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.storage import Storage
from tidings.storage.bootstrap import ensure_default_app

CONFIGURED = {"default_app_id": "123456", "default_app_key": "test-key", "default_app_secret": "test-secret"}


def settings(**values: object) -> Settings:
    return Settings.model_validate(values)


@pytest.mark.parametrize("missing", ["default_app_key", "default_app_secret"])
async def test_configured_id_without_key_or_secret_is_a_config_error(storage: Storage, missing: str) -> None:
    values = {k: v for k, v in CONFIGURED.items() if k != missing}

    with pytest.raises(ConfigError, match="TIDINGS_DEFAULT_APP_KEY and TIDINGS_DEFAULT_APP_SECRET"):
        await ensure_default_app(settings(**values), storage.apps)

    assert await storage.apps.count() == 0


@pytest.mark.parametrize(
    ("field", "value"), [("default_app_id", "1" * 256), ("default_app_key", "k" * 256), ("default_app_key", "k\x00")]
)
async def test_configured_id_or_key_no_lookup_could_find_is_a_config_error(
    storage: Storage, field: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=f"invalid default app: {field}"):
        await ensure_default_app(settings(**{**CONFIGURED, field: value}), storage.apps)

    assert await storage.apps.count() == 0


async def test_configured_app_is_created_with_its_switches(storage: Storage) -> None:
    app, created = await ensure_default_app(
        settings(**CONFIGURED, default_app_client_events=True, default_app_subscription_count=True), storage.apps
    )

    assert created is True
    assert app == App(
        id="123456", key="test-key", secret="test-secret", name="default", enabled=True,
        enable_client_events=True, enable_user_authentication=False, enable_subscription_count=True,
    )
    assert await storage.apps.get("123456") == app


async def test_configured_app_that_exists_is_updated_and_keeps_unset_switches(storage: Storage) -> None:
    await storage.apps.create(App(
        id="123456", key="old-key", secret="old-secret", name="mine", enabled=False,
        enable_client_events=True, enable_user_authentication=True, enable_subscription_count=False,
        limits=AppLimits(max_connections=9),
    ))

    app, created = await ensure_default_app(
        settings(**CONFIGURED, default_app_user_authentication=False), storage.apps
    )

    assert created is False
    assert app == App(
        id="123456", key="test-key", secret="test-secret", name="mine", enabled=True,
        enable_client_events=True,  # not configured: kept
        enable_user_authentication=False,  # configured: applied
        enable_subscription_count=False,
        limits=AppLimits(max_connections=9),
    )
    assert await storage.apps.get("123456") == app
    assert await storage.apps.count() == 1


async def test_configured_app_is_added_beside_existing_apps(storage: Storage) -> None:
    other = await storage.apps.create(new_app("other"))

    app, created = await ensure_default_app(settings(**CONFIGURED), storage.apps)

    assert created is True
    assert [a.id for a in await storage.apps.list()] == [other.id, "123456"]
    assert app.enable_client_events is False  # no switch configured: App defaults


async def test_empty_database_gets_a_generated_default_app(storage: Storage) -> None:
    app, created = await ensure_default_app(settings(), storage.apps)

    assert created is True
    assert app.name == "default" and app.enabled
    assert re.fullmatch(r"[1-9][0-9]{6}", app.id)
    assert re.fullmatch(r"[0-9a-f]{20}", app.key)
    assert re.fullmatch(r"[0-9a-f]{20}", app.secret)
    assert await storage.apps.list() == [app]


async def test_without_configuration_the_oldest_app_is_returned_untouched(storage: Storage) -> None:
    oldest = await storage.apps.create(new_app("first", enabled=False))
    await storage.apps.create(new_app("second"))

    app, created = await ensure_default_app(settings(), storage.apps)

    assert (app, created) == (oldest, False)
    assert await storage.apps.count() == 2


async def test_a_restart_returns_the_same_generated_app(storage: Storage) -> None:
    first, _ = await ensure_default_app(settings(), storage.apps)

    again, created = await ensure_default_app(settings(), storage.apps)

    assert (again, created) == (first, False)


def test_new_app_credentials_have_the_pusher_shapes() -> None:
    apps = [new_app() for _ in range(200)]

    for app in apps:
        assert re.fullmatch(r"[1-9][0-9]{6}", app.id)
        assert re.fullmatch(r"[0-9a-f]{20}", app.key)
        assert re.fullmatch(r"[0-9a-f]{20}", app.secret)
    assert len({a.key for a in apps}) == len({a.secret for a in apps}) == 200

    given = new_app("n", id="42", key="k", enable_client_events=True)
    assert (given.id, given.key, given.name, given.enable_client_events) == ("42", "k", "n", True)

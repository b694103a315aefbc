"""Make sure the server has an app to serve on start: the configured one, or a generated one."""

from __future__ import annotations

from tidings.channels.apps import App
from tidings.channels.credentials import new_app
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.storage.apps import AppStore


async def ensure_default_app(settings: Settings, store: AppStore) -> tuple[App, bool]:
    """Return (the default app, True if it was created now).

    - TIDINGS_DEFAULT_APP_ID set: that app is created or overwritten with the configured key and
      secret and enabled; each switch left unset (None) keeps its stored value (or the default).
    - otherwise, an empty database gets a generated app named "default";
    - otherwise the oldest app is returned untouched.
    """
    if settings.default_app_id:
        return await _upsert_configured(settings, store, settings.default_app_id)
    apps = await store.list()
    if apps:
        return apps[0], False
    return await store.create(new_app(name="default")), True


async def _upsert_configured(settings: Settings, store: AppStore, app_id: str) -> tuple[App, bool]:
    secret = settings.default_app_secret.get_secret_value() if settings.default_app_secret else ""
    if not settings.default_app_key or not secret:
        raise ConfigError(
            "TIDINGS_DEFAULT_APP_ID is set, so TIDINGS_DEFAULT_APP_KEY and TIDINGS_DEFAULT_APP_SECRET"
            " must be set too"
        )
    existing = await store.get(app_id)
    base = existing or App(id=app_id, key=settings.default_app_key, secret=secret, name="default")
    values = base.model_dump()
    values.update(key=settings.default_app_key, secret=secret, enabled=True)
    switches = {
        "enable_client_events": settings.default_app_client_events,
        "enable_user_authentication": settings.default_app_user_authentication,
        "enable_subscription_count": settings.default_app_subscription_count,
    }
    values.update({name: value for name, value in switches.items() if value is not None})
    app = await store.upsert(App.model_validate(values))
    return app, existing is None

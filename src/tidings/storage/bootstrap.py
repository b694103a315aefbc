"""Make sure the server has an app and a Beams instance to serve on start: the configured ones, or generated ones."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from tidings.beams.models import Instance
from tidings.channels.apps import App
from tidings.channels.credentials import new_app
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.storage.apps import AppStore
from tidings.storage.instances import InstanceStore


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
    values: dict[str, object] = existing.model_dump() if existing else {"id": app_id, "name": "default"}
    values.update(key=settings.default_app_key, secret=secret, enabled=True)
    switches = {
        "enable_client_events": settings.default_app_client_events,
        "enable_user_authentication": settings.default_app_user_authentication,
        "enable_subscription_count": settings.default_app_subscription_count,
    }
    values.update({name: value for name, value in switches.items() if value is not None})
    try:
        configured = App.model_validate(values)
    except ValidationError as exc:  # an id or key the App model refuses (too long, NUL): the settings' fault
        problems = "; ".join(f"default_app_{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid default app: {problems}") from exc
    app = await store.upsert(configured)
    return app, existing is None


async def ensure_default_instance(
    settings: Settings, store: InstanceStore, *, make: Callable[[str | None, str | None], Instance]
) -> tuple[Instance, bool]:
    """Return (the default Beams instance, True if it was created now).

    `make(id, secret)` builds a new instance with a fresh VAPID key pair; None asks it to generate
    that value.

    - TIDINGS_DEFAULT_INSTANCE_ID and _SECRET both set: that instance is created, or given that
      secret key; an existing one keeps its name, providers and VAPID keys (browsers subscribed
      with that public key);
    - only one of them set: ConfigError;
    - otherwise, an empty table gets a generated instance;
    - otherwise the oldest instance is returned untouched.
    """
    instance_id = settings.default_instance_id
    secret = settings.default_instance_secret.get_secret_value() if settings.default_instance_secret else None
    if bool(instance_id) != bool(secret):
        raise ConfigError("TIDINGS_DEFAULT_INSTANCE_ID and TIDINGS_DEFAULT_INSTANCE_SECRET must be set together")
    if instance_id and secret:
        return await _upsert_configured_instance(store, instance_id, secret, make)
    instances = await store.list()
    if instances:
        return instances[0], False
    return await store.create(make(None, None)), True


async def _upsert_configured_instance(
    store: InstanceStore, instance_id: str, secret: str, make: Callable[[str | None, str | None], Instance]
) -> tuple[Instance, bool]:
    existing = await store.get(instance_id)
    if existing is None:
        # Upsert, not create: another node starting at the same moment may insert it first, and then
        # its VAPID keys win (keep_vapid), so every node serves the same public key.
        return await store.upsert(make(instance_id, secret), keep_vapid=True), True
    if existing.secret_key == secret:
        return existing, False
    return await store.update(instance_id, secret_key=secret), False


async def apply_default_links(
    settings: Settings, store: AppStore, app: App, instance: Instance, *, created_both: bool
) -> App:
    """User-first delivery settings of the default app: TIDINGS_DEFAULT_APP_BEAMS_INSTANCE and
    TIDINGS_DEFAULT_APP_USER_MAILBOX when set; otherwise an app and an instance created together on this start
    (the embedded default) are linked to each other, so the feature works out of the box."""
    changes: dict[str, object] = {}
    link = settings.default_app_beams_instance
    if link is None and created_both and app.beams_instance is None:
        link = instance.id
    if link is not None and app.beams_instance != link:
        changes["beams_instance"] = link
    mailbox = settings.default_app_user_mailbox
    if mailbox is not None and app.user_mailbox != mailbox:
        changes["user_mailbox"] = mailbox
    return await store.update(app.id, **changes) if changes else app

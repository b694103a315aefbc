"""TIDINGS_DEFAULT_INSTANCE_OUTBOX: the default instance's outbox mode, applied at every start when set."""

from __future__ import annotations

from tidings.beams.models import Instance
from tidings.config import Settings
from tidings.providers.outbox import OUTBOX_KEY, enabled, section
from tidings.storage.instances import InstanceStore


async def apply_default_outbox(settings: Settings, store: InstanceStore, instance: Instance) -> Instance:
    """The default instance with outbox mode on or off as `default_instance_outbox` says (unset: untouched)."""
    wanted = settings.default_instance_outbox
    if wanted is None or enabled(instance) == wanted:
        return instance
    return await store.update(instance.id, providers={**instance.providers, OUTBOX_KEY: section(wanted)})

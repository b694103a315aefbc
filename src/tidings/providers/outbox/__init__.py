"""The push outbox as a provider plug-in: for an instance in outbox mode, each notification is rendered as the
gateway client would send it (render.py) and handed to a keeper instead of the network (provider.py).

An instance is in outbox mode when `instance.providers["outbox"]` is `{"enabled": true}`
(`tidings instances configure ID --outbox`, or TIDINGS_DEFAULT_INSTANCE_OUTBOX=true for the default instance).
"""

from __future__ import annotations

from typing import Any

from tidings.beams.models import Instance

OUTBOX_KEY = "outbox"
MARKER = "outbox"  # the reason recorded with the `sent` result: kept in the outbox, not sent


def enabled(instance: Instance) -> bool:
    section = instance.providers.get(OUTBOX_KEY)
    return isinstance(section, dict) and section.get("enabled") is True


def section(on: bool) -> dict[str, Any]:
    """What `instance.providers["outbox"]` holds."""
    return {"enabled": on}

"""Identifiers Beams hands out: instance ids, secret keys, device ids and publish ids (docs/protocol/beams.md §2, §4).

Formats copy the real service so SDK tests and logs look familiar: instance ids are bare UUIDs, secret keys
64 uppercase hex characters, device ids `<platform>-<uuid>`, publish ids `pubid-<uuid>`.
"""

from __future__ import annotations

import re
import secrets
import uuid

from tidings.beams.models import Platform

# Canonical lowercase UUID text, as str(uuid4()) writes it: device ids are only ever ones we issued.
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_DEVICE_ID = re.compile(rf"(?P<platform>web|apns|fcm)-{_UUID}")


def new_instance_id() -> str:
    return str(uuid.uuid4())


def new_secret_key() -> str:
    # 32 random bytes: also the length RFC 7518 asks of an HS256 key, so PyJWT does not warn.
    return secrets.token_hex(32).upper()


def new_device_id(platform: Platform) -> str:
    return f"{platform}-{uuid.uuid4()}"


def new_publish_id() -> str:
    return f"pubid-{uuid.uuid4()}"


def platform_of_device_id(device_id: str) -> Platform | None:
    """The platform a device id was issued for, or None if it is not an id this server issues."""
    match = _DEVICE_ID.fullmatch(device_id)
    return Platform(match["platform"]) if match else None

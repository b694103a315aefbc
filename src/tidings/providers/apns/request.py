"""One APNs request for one device, minus the `authorization` header. Pure: dicts in, headers and bytes out.

POST /3/device/<hex token>
apns-topic        settings.topic, else the device's bundle identifier
apns-push-type    "alert" when `aps` shows something (alert, badge, sound), else "background"
apns-priority     apns.priority, else 10 for alert / 5 for background (Apple's required value for background)
apns-expiration   apns.expiration (unix seconds), else 0: deliver now or never
apns-collapse-id  apns.collapse_id, when given
body              beams.payloads.apns_payload: the customer's aps and data, plus data.pusher
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tidings.beams.payloads import apns_payload

_PRIORITIES = frozenset({1, 5, 10})
# `aps` keys that make the system show or sound something: Apple wants push type alert for those, and refuses
# background for any notification that triggers a user interaction.
_USER_VISIBLE = ("alert", "badge", "sound")


@dataclass(frozen=True, slots=True)
class ApnsRequest:
    path: str
    headers: dict[str, str]
    body: bytes


def build_request(instance_id: str, publish_id: str, apns: dict[str, Any], token: str, topic: str) -> ApnsRequest:
    """The request for one device; `token` must pass device_token.check (it never reaches the path otherwise)."""
    kind = push_type(apns)
    headers = {
        "apns-topic": topic,
        "apns-push-type": kind,
        "apns-priority": str(_priority(apns.get("priority"), kind)),
        "apns-expiration": str(_expiration(apns.get("expiration"))),
        "content-type": "application/json",
    }
    collapse_id = apns.get("collapse_id")
    if isinstance(collapse_id, str) and collapse_id:
        # Passed as given: APNs refuses one over 64 bytes (BadCollapseId), which is clearer than dropping it.
        headers["apns-collapse-id"] = collapse_id
    body = orjson.dumps(apns_payload(instance_id, publish_id, apns))
    return ApnsRequest(f"/3/device/{token.lower()}", headers, body)


def push_type(apns: dict[str, Any]) -> str:
    aps = apns.get("aps")
    if isinstance(aps, dict) and any(aps.get(key) not in (None, "", {}) for key in _USER_VISIBLE):
        return "alert"
    return "background"


def _priority(value: object, kind: str) -> int:
    # Publish validation does not bound these; an unusable value falls back to the default rather than have
    # APNs refuse the notification for every device (BadPriority).
    if isinstance(value, int) and not isinstance(value, bool) and value in _PRIORITIES:
        return value
    return 10 if kind == "alert" else 5


def _expiration(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return 0

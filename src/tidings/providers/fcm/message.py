"""A Beams `fcm` publish section (legacy FCM HTTP format) as an FCM HTTP v1 `message`. Pure: dicts in, dicts out.

Legacy                                   v1
notification.title/body/image       ->   message.notification.{title, body, image}
notification.icon/sound/tag/color,       message.android.notification.{same names}
  click_action, *_loc_key, *_loc_args
notification.android_channel_id     ->   message.android.notification.channel_id
data (any JSON)                     ->   message.data (strings only, plus `pusher`: a JSON string; payloads.fcm_data)
time_to_live (seconds)              ->   message.android.ttl "<seconds>s"
priority "high" | "normal"          ->   message.android.priority "HIGH" | "NORMAL"
collapse_key                        ->   message.android.collapse_key
restricted_package_name             ->   message.android.restricted_package_name
"""

from __future__ import annotations

import json
from typing import Any

from tidings.beams.payloads import fcm_data, fcm_notification

# FCM keeps an undelivered message for 4 weeks at most, and that is the default when no TTL is given.
MAX_TTL_SECONDS = 2_419_200

_TOP_NOTIFICATION = ("title", "body", "image")
_ANDROID_NOTIFICATION = {
    "icon": "icon",
    "sound": "sound",
    "tag": "tag",
    "color": "color",
    "click_action": "click_action",
    "body_loc_key": "body_loc_key",
    "title_loc_key": "title_loc_key",
    "android_channel_id": "channel_id",
}
_LOC_ARGS = ("body_loc_args", "title_loc_args")


def v1_message(instance_id: str, publish_id: str, token: str, fcm: dict[str, Any]) -> dict[str, Any]:
    """The `message` object of `POST /v1/projects/{project}/messages:send` for one device."""
    # fcm_notification sends the click through the SDK's open-tracking activity; fcm_data carries the
    # customer's own click_action in `pusher.clickAction`, so both must come from the same section.
    notification = fcm_notification(fcm)
    message: dict[str, Any] = {"token": token, "data": fcm_data(instance_id, publish_id, fcm)}
    top = {key: _text(notification[key]) for key in _TOP_NOTIFICATION if _present(notification, key)}
    if top:
        message["notification"] = top
    message["android"] = _android(fcm, notification)
    return message


def _android(fcm: dict[str, Any], notification: dict[str, Any]) -> dict[str, Any]:
    android: dict[str, Any] = {"ttl": _ttl(fcm.get("time_to_live")), "priority": _priority(fcm, notification)}
    for key in ("collapse_key", "restricted_package_name"):
        if fcm.get(key) is not None:
            android[key] = _text(fcm[key])
    extras: dict[str, str | list[str]] = {}
    for legacy, v1 in _ANDROID_NOTIFICATION.items():
        if _present(notification, legacy):
            extras[v1] = _text(notification[legacy])
    for key in _LOC_ARGS:
        if _present(notification, key):
            extras[key] = _string_list(notification[key])
    if extras:
        android["notification"] = extras
    return android


def _ttl(value: object) -> str:
    # v1 wants a Duration string; the legacy API took whole seconds. Out-of-range values are clamped, as the
    # legacy API did, rather than turned into a permanent INVALID_ARGUMENT for every device.
    if isinstance(value, bool) or not isinstance(value, int | float):
        seconds = float(MAX_TTL_SECONDS)
    else:
        seconds = min(max(float(value), 0.0), float(MAX_TTL_SECONDS))
    return f"{int(seconds)}s" if seconds.is_integer() else f"{seconds:.3f}s"


def _priority(fcm: dict[str, Any], notification: dict[str, Any]) -> str:
    priority = fcm.get("priority")
    if isinstance(priority, str) and priority.lower() in ("high", "normal"):
        return priority.upper()
    # FCM's own default when none is given: notification messages high, data-only messages normal.
    return "HIGH" if notification else "NORMAL"


def _present(section: dict[str, Any], key: str) -> bool:
    return section.get(key) is not None and section.get(key) != ""


def _text(value: object) -> str:
    # v1 refuses a number where a string is due; the legacy API coerced, and so do we.
    return value if isinstance(value, str) else json.dumps(value)


def _string_list(value: Any) -> list[str]:
    # The legacy API documented *_loc_args as "JSON array as string"; SDKs send a real array. Take both.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    if isinstance(value, list):
        return [_text(item) for item in value]
    return [_text(value)]

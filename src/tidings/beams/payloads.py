"""What each device receives for a publish (docs/protocol/beams.md §6.2). Pure: dicts in, dicts out.

Every payload carries `pusher` metadata ({instanceId, publishId, ...}) under `data`: the client SDKs use
it to recognise a Beams push and to report delivery and open events for that publish. Inputs are the
platform sections of a publish that validation.parse_publish accepted (objects where objects are due).
"""

from __future__ import annotations

from typing import Any

import orjson

# APNs request headers or Beams-only options, not part of the APNs JSON body.
_APNS_NOT_IN_BODY = frozenset({"collapse_id", "expiration", "priority", "pusher"})
# The activity of the Android SDK that records an open, then launches the customer's click_action.
FCM_OPEN_TRACKING_ACTION = "com.pusher.pushnotifications.OPEN_TRACKING"


def web_push_message(instance_id: str, publish_id: str, web: dict[str, Any]) -> dict[str, Any]:
    """The JSON a browser's service worker gets as the push message."""
    # Always a `notification` object: the Beams service worker reads `payload.notification.*` unguarded.
    notification = dict(_object(web.get("notification")))
    data = _customer_data(web)
    pusher = {
        "instanceId": instance_id,
        "publishId": publish_id,
        "hasDisplayableContent": _displayable(notification),
        "hasData": bool(data),
    }
    return {"notification": notification, "data": {**data, "pusher": pusher}}


def apns_payload(instance_id: str, publish_id: str, apns: dict[str, Any]) -> dict[str, Any]:
    """The APNs JSON body: the customer's `aps` (untouched) and `data`, plus `data.pusher`."""
    body = {key: value for key, value in apns.items() if key not in _APNS_NOT_IN_BODY}
    body["data"] = {**_customer_data(apns), "pusher": {"instanceId": instance_id, "publishId": publish_id}}
    return body


def fcm_data(instance_id: str, publish_id: str, fcm: dict[str, Any]) -> dict[str, str]:
    """The FCM `data` map: string values only (FCM's rule), `pusher` as a JSON string the Android SDK parses."""
    data = {
        key: value if isinstance(value, str) else orjson.dumps(value).decode()
        for key, value in _customer_data(fcm).items()
    }
    notification = _object(fcm.get("notification"))
    pusher: dict[str, Any] = {
        "instanceId": instance_id,
        "publishId": publish_id,
        "hasDisplayableContent": _displayable(notification),
        "hasData": bool(data),
    }
    click_action = notification.get("click_action")
    if isinstance(click_action, str) and click_action:
        # Android opens the customer's activity itself after recording the open (see fcm_notification).
        pusher["clickAction"] = click_action
    data["pusher"] = orjson.dumps(pusher).decode()
    return data


def fcm_notification(fcm: dict[str, Any]) -> dict[str, Any]:
    """The FCM `notification`, its click going through the SDK's open-tracking activity (inferred, reference 6).

    The customer's own `click_action` travels in `pusher.clickAction` (fcm_data) and the SDK launches it.
    """
    notification = dict(_object(fcm.get("notification")))
    if notification:
        notification["click_action"] = FCM_OPEN_TRACKING_ACTION
    return notification


def _customer_data(section: dict[str, Any]) -> dict[str, Any]:
    # `pusher` is refused at publish time; dropping it here too keeps a stored payload from spoofing metadata.
    return {key: value for key, value in _object(section.get("data")).items() if key != "pusher"}


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _displayable(notification: dict[str, Any]) -> bool:
    """True if there is something to show: a title or a body."""
    return bool(notification.get("title") or notification.get("body"))

"""The Beams `fcm` section (legacy FCM format) becomes an FCM v1 `message` (pure, no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tidings.beams.payloads import FCM_OPEN_TRACKING_ACTION
from tidings.providers.fcm.message import MAX_TTL_SECONDS, v1_message

INSTANCE, PUBLISH, TOKEN = "instance-1", "pubid-1", "device-token"


def message(fcm: dict[str, Any]) -> dict[str, Any]:
    return v1_message(INSTANCE, PUBLISH, TOKEN, fcm)


def pusher(msg: dict[str, Any]) -> dict[str, Any]:
    meta = json.loads(msg["data"]["pusher"])
    assert isinstance(meta, dict)
    return meta


def test_every_legacy_field_lands_in_its_v1_place() -> None:
    msg = message(
        {
            "notification": {
                "title": "Hi",
                "body": "There",
                "image": "https://example.com/i.png",
                "icon": "ic_bell",
                "sound": "default",
                "tag": "t1",
                "color": "#ff0000",
                "click_action": "com.example.OPEN",
                "body_loc_key": "bk",
                "body_loc_args": ["a", "b"],
                "title_loc_key": "tk",
                "title_loc_args": ["c"],
                "android_channel_id": "news",
            },
            "data": {"text": "x", "n": 3, "nested": {"a": [1, 2]}, "flag": True},
            "time_to_live": 600,
            "collapse_key": "scores",
            "priority": "high",
        }
    )
    assert msg["token"] == TOKEN
    assert msg["notification"] == {"title": "Hi", "body": "There", "image": "https://example.com/i.png"}
    assert msg["android"] == {
        "ttl": "600s",
        "priority": "HIGH",
        "collapse_key": "scores",
        "notification": {
            "icon": "ic_bell",
            "sound": "default",
            "tag": "t1",
            "color": "#ff0000",
            # The SDK's open-tracking activity records the open, then launches pusher.clickAction.
            "click_action": FCM_OPEN_TRACKING_ACTION,
            "body_loc_key": "bk",
            "title_loc_key": "tk",
            "channel_id": "news",
            "body_loc_args": ["a", "b"],
            "title_loc_args": ["c"],
        },
    }
    assert all(isinstance(value, str) for value in msg["data"].values())
    assert msg["data"]["text"] == "x"
    assert json.loads(msg["data"]["n"]) == 3
    assert json.loads(msg["data"]["nested"]) == {"a": [1, 2]}
    assert msg["data"]["flag"] == "true"
    assert pusher(msg) == {
        "instanceId": INSTANCE,
        "publishId": PUBLISH,
        "hasDisplayableContent": True,
        "hasData": True,
        "clickAction": "com.example.OPEN",
    }


def test_data_only_message_has_no_notification_and_fcm_defaults() -> None:
    msg = message({"data": {"k": "v"}})
    assert "notification" not in msg
    # No TTL given: FCM's own default (4 weeks); no priority: FCM's default for data messages.
    assert msg["android"] == {"ttl": f"{MAX_TTL_SECONDS}s", "priority": "NORMAL"}
    assert pusher(msg) == {
        "instanceId": INSTANCE,
        "publishId": PUBLISH,
        "hasDisplayableContent": False,
        "hasData": True,
    }


def test_notification_without_priority_is_high_and_pusher_says_no_data() -> None:
    msg = message({"notification": {"title": "Only a title"}})
    assert msg["android"]["priority"] == "HIGH"
    assert msg["android"]["notification"] == {"click_action": FCM_OPEN_TRACKING_ACTION}
    assert pusher(msg)["hasData"] is False
    assert "clickAction" not in pusher(msg)


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [(0, "0s"), (3600, "3600s"), (1.5, "1.500s"), (10**9, f"{MAX_TTL_SECONDS}s"), (-5, "0s"), (True, "2419200s")],
)
def test_time_to_live_is_a_duration_string_clamped_to_fcm_range(ttl: object, expected: str) -> None:
    assert message({"data": {}, "time_to_live": ttl})["android"]["ttl"] == expected


def test_priority_normal_and_unknown_values() -> None:
    assert message({"notification": {"title": "t"}, "priority": "normal"})["android"]["priority"] == "NORMAL"
    assert message({"data": {}, "priority": "urgent"})["android"]["priority"] == "NORMAL"


def test_loc_args_given_as_a_json_string_the_legacy_way() -> None:
    msg = message({"notification": {"body_loc_key": "k", "body_loc_args": '["x", 2]', "title_loc_args": "plain"}})
    assert msg["android"]["notification"]["body_loc_args"] == ["x", "2"]
    assert msg["android"]["notification"]["title_loc_args"] == ["plain"]


def test_non_string_notification_values_become_strings() -> None:
    msg = message({"notification": {"title": 42, "body": "b", "tag": 7}})
    assert msg["notification"] == {"title": "42", "body": "b"}
    assert msg["android"]["notification"]["tag"] == "7"


def test_customer_cannot_spoof_pusher_metadata() -> None:
    msg = message({"data": {"pusher": "fake", "ok": "1"}})
    assert pusher(msg)["instanceId"] == INSTANCE


def test_empty_values_are_left_out() -> None:
    msg = message({"notification": {"title": "t", "body": "", "sound": None}, "collapse_key": None})
    assert msg["notification"] == {"title": "t"}
    assert "collapse_key" not in msg["android"]
    assert "sound" not in msg["android"]["notification"]

"""What devices receive (docs/protocol/beams.md §6): the SDKs find their `pusher` metadata where they look for it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tidings.beams.payloads import (
    FCM_OPEN_TRACKING_ACTION,
    apns_payload,
    fcm_data,
    fcm_notification,
    web_push_message,
)

INSTANCE = "inst-1"
PUBLISH = "pubid-1"


class TestWeb:
    def test_shape_the_service_worker_reads(self) -> None:
        web = {"notification": {"title": "Hi", "deep_link": "https://x"}, "data": {"k": [1]}, "time_to_live": 60}
        assert web_push_message(INSTANCE, PUBLISH, web) == {
            "notification": {"title": "Hi", "deep_link": "https://x"},
            "data": {
                "k": [1],
                "pusher": {
                    "instanceId": INSTANCE,
                    "publishId": PUBLISH,
                    "hasDisplayableContent": True,
                    "hasData": True,
                },
            },
        }

    def test_notification_always_present(self) -> None:
        message = web_push_message(INSTANCE, PUBLISH, {"data": {"silent": True}})
        assert message["notification"] == {}
        assert message["data"]["pusher"]["hasDisplayableContent"] is False

    @pytest.mark.parametrize(
        ("notification", "displayable"),
        [({"title": "t"}, True), ({"body": "b"}, True), ({"title": ""}, False), ({"icon": "https://i"}, False)],
    )
    def test_has_displayable_content(self, notification: dict[str, Any], displayable: bool) -> None:
        pusher = web_push_message(INSTANCE, PUBLISH, {"notification": notification})["data"]["pusher"]
        assert pusher["hasDisplayableContent"] is displayable
        assert pusher["hasData"] is False

    def test_input_not_mutated_and_customer_pusher_key_dropped(self) -> None:
        web = {"notification": {"title": "t"}, "data": {"pusher": "spoof", "a": 1}}
        message = web_push_message(INSTANCE, PUBLISH, web)
        assert message["data"] == {"a": 1, "pusher": message["data"]["pusher"]}
        message["notification"]["title"] = "changed"
        assert web == {"notification": {"title": "t"}, "data": {"pusher": "spoof", "a": 1}}


class TestApns:
    def test_aps_kept_and_pusher_added(self) -> None:
        apns = {
            "aps": {"alert": {"title": "t", "body": "b"}, "badge": 2},
            "data": {"order": 7},
            "collapse_id": "c",
            "expiration": 1,
            "priority": 10,
            "pusher": {"disable_delivery_tracking": True},
            "custom": "kept",
        }
        assert apns_payload(INSTANCE, PUBLISH, apns) == {
            "aps": {"alert": {"title": "t", "body": "b"}, "badge": 2},
            "data": {"order": 7, "pusher": {"instanceId": INSTANCE, "publishId": PUBLISH}},
            "custom": "kept",
        }

    def test_without_data(self) -> None:
        payload = apns_payload(INSTANCE, PUBLISH, {"aps": {"alert": "hi"}})
        assert payload == {"aps": {"alert": "hi"}, "data": {"pusher": {"instanceId": INSTANCE, "publishId": PUBLISH}}}


class TestFcm:
    def test_data_values_are_strings_and_pusher_is_json(self) -> None:
        fcm = {"notification": {"title": "t"}, "data": {"s": "x", "n": 1, "o": {"a": [True, None]}, "b": False}}
        data = fcm_data(INSTANCE, PUBLISH, fcm)
        assert all(isinstance(value, str) for value in data.values())
        assert data["s"] == "x" and data["n"] == "1" and json.loads(data["o"]) == {"a": [True, None]}
        assert data["b"] == "false"
        assert json.loads(data["pusher"]) == {
            "instanceId": INSTANCE,
            "publishId": PUBLISH,
            "hasDisplayableContent": True,
            "hasData": True,
        }

    def test_data_only_message(self) -> None:
        pusher = json.loads(fcm_data(INSTANCE, PUBLISH, {})["pusher"])
        assert pusher["hasDisplayableContent"] is False and pusher["hasData"] is False

    def test_click_action_goes_through_open_tracking(self) -> None:
        fcm = {"notification": {"title": "t", "click_action": "com.example.OPEN"}}
        assert json.loads(fcm_data(INSTANCE, PUBLISH, fcm)["pusher"])["clickAction"] == "com.example.OPEN"
        assert fcm_notification(fcm) == {"title": "t", "click_action": FCM_OPEN_TRACKING_ACTION}
        assert fcm["notification"]["click_action"] == "com.example.OPEN"

    def test_no_notification_stays_a_data_message(self) -> None:
        assert fcm_notification({"data": {"a": "b"}}) == {}

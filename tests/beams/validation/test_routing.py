"""The `channels` object of a publish to users (user-first routing, docs/user-first-delivery.md): what is accepted,
how `data` is kept, and every refusal (400 "Bad request", the Beams error body, a description naming `channels`)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.beams.helpers import refused
from tidings.beams.validation import RoutedEvent, check_routing, parse_publish, routed_event
from tidings.channels.apps import App, AppLimits

WEB = {"web": {"notification": {"title": "Hello"}}}
APP = App(id="1", key="k", secret="s", beams_instance="inst-1")


def users_publish(channels: Any, **extra: Any) -> Any:
    body = {"users": ["alice"], **WEB, "channels": channels, **extra}
    return parse_publish(orjson.dumps(body), "application/json", "users")


def bad(channels: Any) -> str:
    return refused(400, "Bad request", users_publish, channels).description


class TestAccepted:
    def test_a_string_is_kept_as_is(self) -> None:
        parsed = users_publish({"event": "order-shipped", "data": '{"order": 42}'})
        assert parsed.routed == RoutedEvent("order-shipped", '{"order": 42}')
        assert parsed.payload == {**WEB, "channels": {"event": "order-shipped", "data": '{"order": 42}'}}

    @pytest.mark.parametrize(
        ("data", "sent"),
        [({"order": 42, "items": ["a"]}, '{"order":42,"items":["a"]}'), ([1, 2], "[1,2]"), (7, "7"),
         (None, "null"), (True, "true"), ({"é": "ü"}, '{"é":"ü"}')],
    )
    def test_any_json_value_is_encoded_compactly_as_the_channels_api_does(self, data: Any, sent: str) -> None:
        assert users_publish({"event": "e", "data": data}).routed == RoutedEvent("e", sent)

    def test_the_other_fields_pass_through(self) -> None:
        parsed = users_publish({"event": "e", "data": "x"}, webhookUrl="https://example.com/h")
        assert parsed.payload["webhookUrl"] == "https://example.com/h" and parsed.targets == ("alice",)

    def test_without_channels_nothing_changes(self) -> None:
        parsed = parse_publish(orjson.dumps({"users": ["a"], **WEB}), "application/json", "users")
        assert parsed.routed is None and "channels" not in parsed.payload
        assert routed_event(parsed.payload) is None

    def test_the_linked_app_takes_an_event_at_its_limits(self) -> None:
        check_routing(RoutedEvent("e" * 200, "x" * 10_240), APP, "inst-1")
        roomy = APP.model_copy(update={"limits": AppLimits(max_event_data_bytes=20_000, max_event_name_length=300)})
        check_routing(RoutedEvent("e" * 300, "x" * 20_000), roomy, "inst-1")


class TestRefused:
    @pytest.mark.parametrize("value", [None, "order-shipped", [], 1, True])
    def test_not_an_object(self, value: Any) -> None:
        assert bad(value).startswith("`channels` must be an object")

    def test_event_missing(self) -> None:
        assert bad({"data": "x"}) == "`channels.event` is required"

    def test_data_missing(self) -> None:
        assert bad({"event": "e"}).startswith("`channels.data` is required")

    @pytest.mark.parametrize("event", ["", 7, None, ["e"], {"e": 1}])
    def test_bad_event_name(self, event: Any) -> None:
        assert bad({"event": event, "data": "x"}).startswith("`channels.event`: Event name")

    def test_unknown_field(self) -> None:
        assert "unknown field 'name'" in bad({"event": "e", "data": "x", "name": "typo"})

    def test_on_a_publish_to_interests(self) -> None:
        body = {"interests": ["news"], **WEB, "channels": {"event": "e", "data": "x"}}
        error = refused(400, "Bad request", parse_publish, orjson.dumps(body), "application/json", "interests")
        assert error.description.startswith("`channels` is only for publishes to users")

    def test_the_platforms_are_still_required(self) -> None:
        # The push is what users who are not signed in get: a routed publish must carry one.
        body = {"users": ["a"], "channels": {"event": "e", "data": "x"}}
        error = refused(422, "Bad Request", parse_publish, orjson.dumps(body), "application/json", "users")
        assert "at least one of `apns`, `fcm` or `web`" in error.description

    def test_no_linked_app_names_the_fix(self) -> None:
        error = refused(400, "Bad request", check_routing, RoutedEvent("e", "x"), None, "inst-1")
        assert "tidings apps update APP_ID --beams-instance inst-1" in error.description

    def test_data_over_the_apps_limit(self) -> None:
        error = refused(400, "Bad request", check_routing, RoutedEvent("e", "x" * 10_241), APP, "inst-1")
        assert error.description.startswith("`channels.data` is too large: 10241 bytes")
        # Counted in bytes once encoded, as the Channels API counts them.
        refused(400, "Bad request", check_routing, RoutedEvent("e", "é" * 5_121), APP, "inst-1")

    def test_event_name_over_the_apps_limit(self) -> None:
        error = refused(400, "Bad request", check_routing, RoutedEvent("e" * 201, "x"), APP, "inst-1")
        assert error.description.startswith("`channels.event`: Event name")

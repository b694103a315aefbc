from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.channels.api import (
    CHANNEL_INFO,
    TRIGGER_INFO,
    TriggerEvent,
    check_channel_info_request,
    check_channels_request,
    parse_batch,
    parse_info,
    parse_json_body,
    parse_trigger,
    parse_trigger_obj,
)
from tidings.channels.apps import AppLimits
from tidings.channels.names import check_channel_name, check_socket_id
from tidings.errors import ApiError, BadRequest, PayloadTooLarge

LIMITS = AppLimits()


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


def trigger(limits: AppLimits = LIMITS, **fields: Any) -> TriggerEvent:
    return parse_trigger(body({"name": "my-event", "data": "hi", **fields}), limits)


def refused(error: type[ApiError], match: str, obj: object, limits: AppLimits = LIMITS) -> ApiError:
    with pytest.raises(ApiError, match=match) as info:
        parse_trigger(body(obj), limits)
    assert type(info.value) is error  # the exact class: it decides the HTTP status
    return info.value


def event(**fields: Any) -> dict[str, Any]:
    """A valid event object, with `fields` changed (a value of `...` removes the field)."""
    obj = {"name": "my-event", "data": "hi", "channel": "my-channel", **fields}
    return {k: v for k, v in obj.items() if v is not ...}


class TestParseJsonBody:
    def test_object(self) -> None:
        assert parse_json_body(b'{"a": [1]}') == {"a": [1]}

    @pytest.mark.parametrize("raw", [b"", b"{", b"nope", b"\xff", b'{"a": NaN}', b"[" * 2000 + b"]" * 2000])
    def test_not_json(self, raw: bytes) -> None:
        with pytest.raises(BadRequest, match="Request body is not valid JSON"):
            parse_json_body(raw)

    @pytest.mark.parametrize("raw", [b"[]", b'"s"', b"1", b"null", b"true"])
    def test_not_an_object(self, raw: bytes) -> None:
        with pytest.raises(BadRequest, match="must be a JSON object"):
            parse_json_body(raw)


class TestParseTrigger:
    def test_single_channel(self) -> None:
        assert trigger(channel="my-channel") == TriggerEvent(
            name="my-event", data="hi", channels=("my-channel",), socket_id=None, info=frozenset()
        )

    def test_channels_list_deduplicated_in_order(self) -> None:
        assert trigger(channels=["b", "a", "b", "c", "a"]).channels == ("b", "a", "c")

    def test_all_optional_fields(self) -> None:
        result = trigger(channels=["presence-a"], socket_id="123.456", info="user_count,subscription_count")
        assert result.socket_id == "123.456"
        assert result.info == {"user_count", "subscription_count"}

    def test_null_optional_fields_count_as_absent(self) -> None:
        result = trigger(channel="a", channels=None, socket_id=None, info=None)
        assert (result.channels, result.socket_id, result.info) == (("a",), None, frozenset())

    def test_unknown_fields_are_ignored(self) -> None:
        assert trigger(channel="a", something="else").channels == ("a",)

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            ("already a string", "already a string"),
            ("", ""),
            ({"message": "héllo", "n": [1, 2.5, None]}, '{"message":"héllo","n":[1,2.5,null]}'),
            ([1, 2], "[1,2]"),
            (42, "42"),
            (True, "true"),
            (None, "null"),  # what pusher-http-python sends for trigger(..., data=None)
        ],
    )
    def test_data_is_forwarded_as_a_string(self, data: object, expected: str) -> None:
        assert trigger(channel="a", data=data).data == expected

    def test_data_size_limit_in_utf8_bytes(self) -> None:
        assert len(trigger(channel="a", data="x" * 10_240).data) == 10_240
        refused(PayloadTooLarge, "10241 bytes, the limit is 10240", event(data="x" * 10_241))
        # "é" is one character but two bytes.
        refused(PayloadTooLarge, "10242 bytes", event(data="é" * 5_121))
        limits = AppLimits(max_event_data_bytes=5)
        assert trigger(limits, channel="a", data="12345").data == "12345"
        refused(PayloadTooLarge, "the limit is 5 bytes", event(data={"a": 1}), limits)

    def test_data_limit_counts_the_encoded_form_of_non_strings(self) -> None:
        refused(PayloadTooLarge, "too large", event(data=["x" * 10_238]))  # 10 240 + 2 brackets + quotes

    def test_event_name_limit(self) -> None:
        assert trigger(channel="a", name="e" * 200).name == "e" * 200
        refused(BadRequest, "too long", event(name="e" * 201))
        refused(BadRequest, "too long", event(name="e" * 11), AppLimits(max_event_name_length=10))

    @pytest.mark.parametrize(
        ("obj", "match"),
        [
            (event(name=...), "Missing event `name`"),
            (event(name=None), "must be a string"),
            (event(name=5), "must be a string"),
            (event(name=""), "must not be empty"),
            (event(data=...), "Missing event `data`"),
            (event(channel=..., channels=["a"]), None),
            (event(channels=["a"]), "either `channels` or `channel`, not both"),
            (event(channel=...), "Missing `channels`"),
            (event(channel=..., channels="a"), "`channels` must be a list"),
            (event(channel=..., channels={"a": 1}), "`channels` must be a list"),
            (event(channel=..., channels=[]), "must not be empty"),
            (event(channel=..., channels=["ok", 5]), "must be a string"),
            (event(channel=..., channels=["ok", "bad name"]), "'bad name'"),
            (event(channel=..., channels=["ok", None]), "must be a string"),
            (event(channel=5), "must be a string"),
            (event(channel=["a"]), "must be a string"),
            (event(channel=""), "must not be empty"),
            (event(channel="#reserved"), "reserved"),
            (event(channel="#server-to-user-"), "user id"),
            (event(channel="a" * 201), "too long"),
            (event(channel="a\n"), "only the characters"),
            (event(socket_id="abc"), "Invalid socket_id 'abc'"),
            (event(socket_id="1.2.3"), "Invalid socket_id"),
            (event(socket_id=""), "Invalid socket_id"),
            (event(socket_id=1.2), "Invalid socket_id float"),
            (event(info="user_count,bogus"), "Unknown info attribute.*'bogus'"),
            (event(info="cache"), "Unknown info attribute"),
            (event(info=["user_count"]), "`info` must be a comma-separated string"),
        ],
    )
    def test_bad_request(self, obj: dict[str, Any], match: str | None) -> None:
        if match is None:  # the control: a valid event
            parse_trigger(body(obj), LIMITS)
        else:
            refused(BadRequest, match, obj)

    def test_channel_count_limit(self) -> None:
        names = [f"c{i}" for i in range(101)]
        assert len(trigger(channels=names[:100]).channels) == 100
        refused(BadRequest, "Too many channels: 101, the limit is 100", event(channel=..., channels=names))
        refused(
            BadRequest,
            "Too many channels",
            event(channel=..., channels=["a", "b"]),
            AppLimits(max_channels_per_event=1),
        )

    def test_channel_name_limit_is_configurable(self) -> None:
        refused(BadRequest, "too long", event(channel="a" * 11), AppLimits(max_channel_name_length=10))

    def test_user_channel_is_allowed(self) -> None:
        assert trigger(channels=["#server-to-user-42"]).channels == ("#server-to-user-42",)

    def test_encrypted_channel_only_alone(self) -> None:
        assert trigger(channels=["private-encrypted-a"]).channels == ("private-encrypted-a",)
        assert trigger(channels=["private-encrypted-a", "private-encrypted-a"]).channels == ("private-encrypted-a",)
        refused(BadRequest, "encrypted", event(channel=..., channels=["private-encrypted-a", "b"]))
        refused(BadRequest, "encrypted", event(channel=..., channels=["b", "private-encrypted-cache-a"]))

    def test_empty_info_means_none(self) -> None:
        assert trigger(channel="a", info="").info == frozenset()

    def test_lone_surrogates_from_a_lenient_parser_are_refused(self) -> None:
        bad = json.loads('"\\ud800"')  # the stdlib accepts it; orjson would not
        with pytest.raises(BadRequest, match="not valid Unicode"):
            parse_trigger_obj(event(data=bad), LIMITS)
        with pytest.raises(BadRequest, match="not valid Unicode"):
            parse_trigger_obj(event(name=bad), LIMITS)

    def test_data_that_cannot_be_json_encoded(self) -> None:
        nested: list[Any] = []
        for _ in range(300):  # orjson writes at most 254 levels
            nested = [nested]
        with pytest.raises(BadRequest, match="must be a string or a JSON value"):
            parse_trigger_obj(event(data=nested), LIMITS)
        with pytest.raises(BadRequest, match="must be a string or a JSON value"):
            parse_trigger_obj(event(data={1: "non-string key"}), LIMITS)
        with pytest.raises(BadRequest, match="must be a string or a JSON value"):
            parse_trigger_obj(event(data=object()), LIMITS)

    @pytest.mark.parametrize("obj", [None, [], "event", 1])
    def test_obj_must_be_an_object(self, obj: object) -> None:
        with pytest.raises(BadRequest, match="Event must be a JSON object"):
            parse_trigger_obj(obj, LIMITS)

    def test_body_must_be_a_json_object(self) -> None:
        with pytest.raises(BadRequest, match="not valid JSON"):
            parse_trigger(b"name=e", LIMITS)
        with pytest.raises(BadRequest, match="must be a JSON object"):
            parse_trigger(b"[]", LIMITS)


class TestParseBatch:
    def test_events_in_order(self) -> None:
        raw = body({"batch": [event(), event(name="two", channel=..., channels=["x", "y"], socket_id="1.1")]})
        first, second = parse_batch(raw, LIMITS)
        assert first.name == "my-event" and first.channels == ("my-channel",)
        assert second.name == "two" and second.channels == ("x", "y") and second.socket_id == "1.1"

    @pytest.mark.parametrize(
        ("obj", "match"),
        [
            ({}, "`batch` must be a list"),
            ({"batch": None}, "`batch` must be a list"),
            ({"batch": {"0": {}}}, "`batch` must be a list"),
            ({"batch": []}, "at least one event"),
            ({"batch": [event()] * 11}, "Batch too large: 11 events, the limit is 10"),
            ({"batch": [event(), "x"]}, r"^batch\[1\]: Event must be a JSON object"),
            ({"batch": [event(), event(channel=...)]}, r"^batch\[1\]: Missing `channels`"),
            ({"batch": [event(name="")]}, r"^batch\[0\]: Event name must not be empty"),
            ({"batch": [event(channel="a b")]}, r"^batch\[0\]: Invalid channel name 'a b'"),
        ],
    )
    def test_bad_request(self, obj: object, match: str) -> None:
        with pytest.raises(ApiError, match=match) as info:
            parse_batch(body(obj), LIMITS)
        assert type(info.value) is BadRequest

    def test_size_limit_is_configurable(self) -> None:
        assert len(parse_batch(body({"batch": [event()] * 2}), AppLimits(max_batch_size=2))) == 2
        with pytest.raises(BadRequest, match="Batch too large"):
            parse_batch(body({"batch": [event()] * 3}), AppLimits(max_batch_size=2))

    def test_too_large_event_keeps_its_class(self) -> None:
        with pytest.raises(PayloadTooLarge, match=r"^batch\[2\]: Event data is too large") as info:
            parse_batch(body({"batch": [event(), event(), event(data="x" * 10_241)]}), LIMITS)
        assert info.value.status == 413

    @pytest.mark.parametrize("raw", [b"", b"[]", b"{"])
    def test_body_must_be_a_json_object(self, raw: bytes) -> None:
        with pytest.raises(BadRequest):
            parse_batch(raw, LIMITS)


class TestParseInfo:
    def test_values(self) -> None:
        assert parse_info(None, TRIGGER_INFO) == frozenset()
        assert parse_info("", TRIGGER_INFO) == frozenset()
        assert parse_info("user_count", TRIGGER_INFO) == {"user_count"}
        assert parse_info(" user_count , subscription_count,", TRIGGER_INFO) == TRIGGER_INFO
        assert parse_info("cache,user_count", CHANNEL_INFO) == {"cache", "user_count"}

    @pytest.mark.parametrize("raw", ["cache", "user_count,x", "USER_COUNT", "user_count;subscription_count"])
    def test_unknown(self, raw: str) -> None:
        with pytest.raises(BadRequest, match="Unknown info attribute"):
            parse_info(raw, TRIGGER_INFO)

    def test_message_stays_short(self) -> None:
        with pytest.raises(BadRequest) as info:
            parse_info(",".join(f"attr{i}" * 50 for i in range(1000)), TRIGGER_INFO)
        assert len(info.value.message) < 600


class TestCheckChannelInfoRequest:
    @pytest.mark.parametrize(
        ("channel", "info"),
        [
            ("public", set()),
            ("public", {"subscription_count"}),
            ("private-a", {"subscription_count"}),
            ("private-encrypted-a", {"subscription_count"}),
            ("presence-a", {"user_count", "subscription_count"}),
            ("cache-a", {"cache", "subscription_count"}),
            ("private-cache-a", {"cache"}),
            ("private-encrypted-cache-a", {"cache"}),
            ("presence-cache-a", {"user_count", "cache"}),
            ("#server-to-user-1", set()),
        ],
    )
    def test_allowed(self, channel: str, info: set[str]) -> None:
        check_channel_info_request(channel, frozenset(info))

    @pytest.mark.parametrize(
        ("channel", "info", "match"),
        [
            ("public", {"user_count"}, "user_count is only available for presence"),
            ("private-a", {"user_count"}, "presence"),
            ("cache-a", {"user_count", "cache"}, "presence"),
            ("#server-to-user-1", {"subscription_count"}, "not available for user channels"),
            ("public", {"cache"}, "cache is only available for cache channels"),
            ("presence-a", {"cache"}, "cache channels"),
            ("presence-a", {"members"}, "Unknown info attribute"),
        ],
    )
    def test_refused(self, channel: str, info: set[str], match: str) -> None:
        with pytest.raises(BadRequest, match=match):
            check_channel_info_request(channel, frozenset(info))


class TestCheckChannelsRequest:
    @pytest.mark.parametrize(
        ("prefix", "info"),
        [(None, set()), ("private-", set()), ("presence-", {"user_count"}), ("presence-room-", {"user_count"})],
    )
    def test_allowed(self, prefix: str | None, info: set[str]) -> None:
        check_channels_request(prefix, frozenset(info))

    @pytest.mark.parametrize(
        ("prefix", "info", "match"),
        [
            (None, {"user_count"}, "requires filter_by_prefix"),
            ("", {"user_count"}, "requires filter_by_prefix"),
            ("private-", {"user_count"}, "requires filter_by_prefix"),
            ("presence", {"user_count"}, "requires filter_by_prefix"),
            ("presence-", {"subscription_count"}, "supports only info=user_count"),
            (None, {"cache"}, "supports only info=user_count"),
        ],
    )
    def test_refused(self, prefix: str | None, info: set[str], match: str) -> None:
        with pytest.raises(BadRequest, match=match):
            check_channels_request(prefix, frozenset(info))


# --- properties: nothing but ApiError ever escapes, and what is returned is valid ---------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
channel_like = st.sampled_from(
    ["a", "private-encrypted-x", "presence-p", "#server-to-user-1", "#x", "", "a b"]
) | st.text(max_size=8)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=8) | json_values,
        "data": json_values,
        "channel": channel_like | json_values,
        "channels": st.lists(channel_like, max_size=4) | json_values,
        "socket_id": st.sampled_from(["1.2", "1.", "x"]) | json_values,
        "info": st.sampled_from(["user_count", "subscription_count,user_count", "cache"]) | json_values,
    },
)
SMALL = AppLimits(max_event_data_bytes=50, max_channels_per_event=3, max_batch_size=3, max_channel_name_length=10)


def check_result(result: TriggerEvent, limits: AppLimits) -> None:
    assert isinstance(result.data, str) and len(result.data.encode()) <= limits.max_event_data_bytes
    assert 1 <= len(result.channels) <= limits.max_channels_per_event
    assert len(set(result.channels)) == len(result.channels)
    assert all(check_channel_name(c, limits.max_channel_name_length) is None for c in result.channels)
    assert result.socket_id is None or check_socket_id(result.socket_id)
    assert result.info <= TRIGGER_INFO


@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_api_errors(raw: bytes) -> None:
    for parse in (parse_trigger, parse_batch):
        try:
            parse(raw, SMALL)
        except ApiError:
            pass


@given(st.one_of(event_like, json_values))
def test_arbitrary_json_trigger_only_raises_api_errors(obj: object) -> None:
    try:
        result = parse_trigger(body(obj), SMALL)
    except ApiError:
        return
    check_result(result, SMALL)


@given(st.fixed_dictionaries({}, optional={"batch": st.lists(event_like | json_values, max_size=4) | json_values}))
def test_arbitrary_json_batch_only_raises_api_errors(obj: object) -> None:
    try:
        results = parse_batch(body(obj), SMALL)
    except ApiError:
        return
    assert 1 <= len(results) <= SMALL.max_batch_size
    for result in results:
        check_result(result, SMALL)

import orjson
import pytest

from tidings.channels import messages
from tidings.errors import ProtocolError


def test_parse_subscribe_with_object_data():
    msg = messages.parse('{"event":"pusher:subscribe","data":{"channel":"a","auth":""}}')
    assert msg.event == "pusher:subscribe"
    assert msg.data == {"channel": "a", "auth": ""}


def test_parse_accepts_double_encoded_data_for_pusher_events():
    msg = messages.parse(orjson.dumps({"event": "pusher:subscribe", "data": '{"channel":"a"}'}))
    assert msg.data == {"channel": "a"}


def test_client_event_string_data_is_kept_verbatim():
    msg = messages.parse('{"event":"client-x","channel":"private-a","data":"{\\"a\\":1}"}')
    assert msg.data == '{"a":1}'
    assert msg.channel == "private-a"


@pytest.mark.parametrize(
    "text",
    ["nope", "[1,2]", '"str"', "{}", '{"event":""}', '{"event":5}', '{"event":"x","channel":3}'],
)
def test_malformed_frames_are_non_closing_errors(text):
    with pytest.raises(ProtocolError) as info:
        messages.parse(text)
    assert info.value.code is None
    assert not info.value.closes


def test_event_frame_double_encodes_data_and_adds_user_id_only_when_given():
    assert orjson.loads(messages.event("e", "c", '{"a":1}')) == {"event": "e", "channel": "c", "data": '{"a":1}'}
    assert orjson.loads(messages.event("e", "c", "x", "u1"))["user_id"] == "u1"


def test_connection_established_has_string_data():
    frame = orjson.loads(messages.connection_established("1.2", 120))
    assert frame["event"] == "pusher:connection_established"
    assert orjson.loads(frame["data"]) == {"socket_id": "1.2", "activity_timeout": 120}


def test_subscription_succeeded_presence_payload():
    frame = orjson.loads(messages.subscription_succeeded("presence-a", {"ids": ["1"], "hash": {"1": None}, "count": 1}))
    assert orjson.loads(frame["data"]) == {"presence": {"ids": ["1"], "hash": {"1": None}, "count": 1}}
    assert orjson.loads(messages.subscription_succeeded("a"))["data"] == "{}"


def test_subscription_error_is_channel_scoped():
    frame = orjson.loads(messages.subscription_error("private-a", "AuthError", "bad", 401))
    assert frame == {
        "event": "pusher:subscription_error",
        "channel": "private-a",
        "data": {"type": "AuthError", "error": "bad", "status": 401},
    }


def test_encode_data():
    assert messages.encode_data("raw") == "raw"
    assert messages.encode_data({"a": [1, 2]}) == '{"a":[1,2]}'

import orjson
import pytest

from tidings.channels import signatures
from tidings.channels.apps import App
from tidings.channels.subscription import SignedIn, authorize
from tidings.errors import ProtocolError, SubscriptionError

APP = App(id="1", key="key", secret="secret")
SID = "1234.5678"


def sign(channel: str, channel_data: str | None = None) -> str:
    return signatures.token(APP.key, APP.secret, signatures.channel_string(SID, channel, channel_data))


def test_public_needs_no_auth():
    grant = authorize(APP, SID, {"channel": "news", "auth": ""}, None)
    assert grant.channel == "news" and grant.user_id is None


def test_private_requires_valid_signature():
    assert authorize(APP, SID, {"channel": "private-a", "auth": sign("private-a")}, None).channel == "private-a"
    with pytest.raises(SubscriptionError) as info:
        authorize(APP, SID, {"channel": "private-a", "auth": sign("private-b")}, None)
    assert info.value.status == 401 and info.value.type == "AuthError"
    with pytest.raises(SubscriptionError):
        authorize(APP, SID, {"channel": "private-a"}, None)


def test_presence_member_from_channel_data_numeric_id_stringified():
    data = orjson.dumps({"user_id": 42, "user_info": {"name": "x"}}).decode()
    grant = authorize(APP, SID, {"channel": "presence-a", "auth": sign("presence-a", data), "channel_data": data}, None)
    assert (grant.user_id, grant.user_info) == ("42", {"name": "x"})


def test_presence_signature_covers_channel_data():
    data = '{"user_id":"1"}'
    forged = '{"user_id":"2"}'
    with pytest.raises(SubscriptionError):
        authorize(APP, SID, {"channel": "presence-a", "auth": sign("presence-a", data), "channel_data": forged}, None)


def test_presence_without_channel_data_uses_signed_in_user():
    user = SignedIn("alice", {"name": "Alice"})
    grant = authorize(APP, SID, {"channel": "presence-a", "auth": sign("presence-a")}, user)
    assert (grant.user_id, grant.user_info) == ("alice", {"name": "Alice"})
    with pytest.raises(SubscriptionError):
        authorize(APP, SID, {"channel": "presence-a", "auth": sign("presence-a")}, None)


@pytest.mark.parametrize("bad", ["nope", "[1]", '{"user_info":{}}', '{"user_id":""}', '{"user_id":true}'])
def test_presence_bad_channel_data(bad):
    with pytest.raises(SubscriptionError) as info:
        authorize(APP, SID, {"channel": "presence-a", "auth": sign("presence-a", bad), "channel_data": bad}, None)
    assert info.value.status == 400


def test_presence_user_info_limit():
    data = orjson.dumps({"user_id": "1", "user_info": {"x": "a" * 2000}}).decode()
    with pytest.raises(SubscriptionError) as info:
        authorize(APP, SID, {"channel": "presence-a", "auth": sign("presence-a", data), "channel_data": data}, None)
    assert info.value.type == "LimitReached"


def test_user_channel_only_for_that_signed_in_user():
    assert authorize(APP, SID, {"channel": "#server-to-user-alice"}, SignedIn("alice")).channel
    for user in (None, SignedIn("bob")):
        with pytest.raises(SubscriptionError):
            authorize(APP, SID, {"channel": "#server-to-user-alice"}, user)


@pytest.mark.parametrize("name", ["bad channel", "#other", "a" * 201, ""])
def test_invalid_names(name):
    with pytest.raises(SubscriptionError):
        authorize(APP, SID, {"channel": name}, None)


def test_missing_channel_is_a_plain_protocol_error():
    with pytest.raises(ProtocolError) as info:
        authorize(APP, SID, {"auth": ""}, None)
    assert not isinstance(info.value, SubscriptionError)

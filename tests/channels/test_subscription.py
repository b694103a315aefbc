import orjson
import pytest

from tidings.channels import signatures
from tidings.channels.apps import App
from tidings.channels.subscription import MAX_PRESENCE_USER_ID, SignedIn, authorize, check_channel_count
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


@pytest.mark.parametrize("channel", ["private-a", "private-encrypted-a", "private-cache-a"])
def test_private_signed_over_channel_data_is_accepted_and_makes_no_member(channel):
    # Server SDKs sign `sid:channel:channel_data` for any channel given custom data; pusher-js sends it on.
    data = '{"user_id":"mallory","user_info":{"admin":true}}'
    grant = authorize(APP, SID, {"channel": channel, "auth": sign(channel, data), "channel_data": data}, None)
    assert grant.channel == channel and not grant.type.is_presence
    assert (grant.user_id, grant.user_info) == (None, None)


def test_private_with_channel_data_still_takes_the_plain_signature():
    data = {"channel": "private-a", "auth": sign("private-a"), "channel_data": "anything"}
    assert authorize(APP, SID, data, None).user_id is None


def test_private_signature_over_other_channel_data_is_refused():
    signed, sent = '{"a":1}', '{"a":2}'
    with pytest.raises(SubscriptionError) as info:
        authorize(APP, SID, {"channel": "private-a", "auth": sign("private-a", signed), "channel_data": sent}, None)
    assert info.value.status == 401 and info.value.type == "AuthError"
    assert f"{SID}:private-a:{sent}" in info.value.message  # names the string it expected signed


def test_private_signature_over_channel_data_needs_the_channel_data_sent():
    with pytest.raises(SubscriptionError) as info:
        authorize(APP, SID, {"channel": "private-a", "auth": sign("private-a", '{"a":1}')}, None)
    assert info.value.status == 401


@pytest.mark.parametrize("ignored", [None, 5, {"user_id": "1"}])
def test_private_ignores_a_channel_data_that_is_not_a_string(ignored):
    data = {"channel": "private-a", "auth": sign("private-a"), "channel_data": ignored}
    assert authorize(APP, SID, data, None).channel == "private-a"


def test_presence_channel_data_must_be_signed_even_for_a_signed_in_user():
    data = '{"user_id":"mallory"}'
    with pytest.raises(SubscriptionError) as info:
        authorize(APP, SID, {"channel": "presence-a", "auth": sign("presence-a"), "channel_data": data},
                  SignedIn("alice"))
    assert info.value.status == 401


def test_presence_channel_data_that_is_not_a_string_is_refused():
    data = {"channel": "presence-a", "auth": sign("presence-a"), "channel_data": {"user_id": "1"}}
    with pytest.raises(SubscriptionError) as info:
        authorize(APP, SID, data, None)
    assert (info.value.type, info.value.status) == ("InvalidChannelData", 400)


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


def test_presence_user_id_of_128_characters_is_accepted():
    data = orjson.dumps({"user_id": "u" * MAX_PRESENCE_USER_ID}).decode()
    grant = authorize(APP, SID, {"channel": "presence-a", "auth": sign("presence-a", data), "channel_data": data}, None)
    assert grant.user_id == "u" * 128


def test_presence_user_id_over_128_characters_is_refused():
    data = orjson.dumps({"user_id": "u" * 129}).decode()
    with pytest.raises(SubscriptionError) as info:
        authorize(APP, SID, {"channel": "presence-a", "auth": sign("presence-a", data), "channel_data": data}, None)
    assert (info.value.type, info.value.status) == ("LimitReached", 4301)
    assert info.value.channel == "presence-a"


def test_presence_member_from_a_long_signed_in_id_is_refused_too():
    # Sign-in accepts ids up to 184 characters (a valid #server-to-user- channel); presence caps them at 128.
    with pytest.raises(SubscriptionError) as info:
        authorize(APP, SID, {"channel": "presence-a", "auth": sign("presence-a")}, SignedIn("u" * 129))
    assert (info.value.type, info.value.status) == ("LimitReached", 4301)


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


@pytest.mark.parametrize(("current", "limit"), [(0, 1), (999, 1000), (10**6, None)])
def test_channel_count_below_the_limit_or_unlimited_passes(current, limit):
    check_channel_count("private-a", current, limit)


@pytest.mark.parametrize(("current", "limit"), [(1, 1), (1000, 1000), (1001, 1000)])
def test_channel_count_at_the_limit_is_refused_for_that_channel(current, limit):
    with pytest.raises(SubscriptionError) as info:
        check_channel_count("presence-room", current, limit)
    assert (info.value.type, info.value.status) == ("LimitReached", 4100)
    assert info.value.channel == "presence-room" and str(limit) in info.value.message
    assert not info.value.closes  # a subscription_error: the connection stays open


def test_channel_count_uses_the_app_default():
    check_channel_count("a", 999, APP.limits.max_channels_per_connection)
    with pytest.raises(SubscriptionError):
        check_channel_count("a", 1000, APP.limits.max_channels_per_connection)

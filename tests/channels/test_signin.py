import orjson
import pytest

from tidings.channels import signatures, signin
from tidings.channels.apps import App
from tidings.errors import ProtocolError

APP = App(id="1", key="278d425bdf160c739803", secret="7ad3773142a6692b25b8")
SID = "1234.1234"


def data_for(user_data: str, socket_id: str = SID) -> dict[str, str]:
    auth = signatures.token(APP.key, APP.secret, signatures.signin_string(socket_id, user_data))
    return {"auth": auth, "user_data": user_data}


def test_documented_vector_signs_in():
    data = data_for('{"id":"12345"}')
    assert data["auth"].split(":")[1].startswith("4708d583")
    result = signin.verify(APP, SID, data)
    assert result.user_id == "12345" and result.user_data == '{"id":"12345"}'


def test_user_info_and_watchlist_are_read():
    ud = orjson.dumps({"id": "a", "user_info": {"n": 1}, "watchlist": ["b", "c", "b"]}).decode()
    result = signin.verify(APP, SID, data_for(ud))
    assert result.user_info == {"n": 1} and result.watchlist == ("b", "c") and not result.watchlist_truncated


def test_watchlist_over_100_is_truncated_with_a_flag():
    ud = orjson.dumps({"id": "a", "watchlist": [f"u{i}" for i in range(150)]}).decode()
    result = signin.verify(APP, SID, data_for(ud))
    assert len(result.watchlist) == 100 and result.watchlist_truncated


@pytest.mark.parametrize(
    "user_data",
    ['{"id":12345}', '{"name":"x"}', '{"id":""}', "not json", "[1]", '{"id":"a b"}', '{"id":"a","watchlist":"b"}'],
)
def test_bad_user_data_is_4009(user_data):
    with pytest.raises(ProtocolError) as info:
        signin.verify(APP, SID, data_for(user_data))
    assert info.value.code == 4009 and info.value.closes


def test_signature_for_another_socket_is_refused():
    with pytest.raises(ProtocolError) as info:
        signin.verify(APP, SID, data_for('{"id":"1"}', socket_id="1.2"))
    assert info.value.code == 4009


def test_signature_covers_the_exact_user_data_string():
    data = data_for('{"id":"1"}')
    data["user_data"] = '{"id": "1"}'  # same JSON, different bytes
    with pytest.raises(ProtocolError):
        signin.verify(APP, SID, data)


@pytest.mark.parametrize("data", [None, "x", {"auth": "a"}, {"user_data": {"id": "1"}, "auth": "x"}])
def test_malformed_signin_data(data):
    with pytest.raises(ProtocolError) as info:
        signin.verify(APP, SID, data)
    assert info.value.code == 4009


def test_user_ids_longer_than_the_presence_limit_sign_in():
    # 128 is Pusher's presence limit; sign-in ids only have to make a valid #server-to-user- channel.
    longest = "u" * signin.MAX_USER_ID
    assert signin.verify(APP, SID, data_for(orjson.dumps({"id": longest}).decode())).user_id == longest
    with pytest.raises(ProtocolError) as info:
        signin.verify(APP, SID, data_for(orjson.dumps({"id": longest + "u"}).decode()))
    assert info.value.code == 4009

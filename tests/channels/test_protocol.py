"""The Channels session, sans I/O: the client sends X, the server answers Y (websockets' test style)."""

from __future__ import annotations

import json
from typing import Any

import orjson

from tidings.channels import protocol as p
from tidings.channels import signatures
from tidings.channels.apps import App, AppLimits
from tidings.channels.codes import Code

SOCKET = "123.456"
TIMING = p.Timing(activity_timeout=120.0, pong_timeout=30.0, user_authentication_timeout=30.0)


def app(**kwargs: Any) -> App:
    return App(id="1", key="key", secret="secret", **kwargs)


def session(now: float = 0.0, **kwargs: Any) -> p.Session:
    return p.Session(app(**kwargs), SOCKET, now, TIMING)


def frame(event: str, data: Any = None, channel: str | None = None) -> str:
    msg: dict[str, Any] = {"event": event, "data": data}
    if channel is not None:
        msg["channel"] = channel
    return json.dumps(msg)


def sent(actions: list[p.Action]) -> list[dict[str, Any]]:
    out = []
    for action in actions:
        assert isinstance(action, p.Send), action
        out.append(orjson.loads(action.payload))
    return out


def signed(channel: str, channel_data: str | None = None, secret: str = "secret") -> dict[str, Any]:
    message = signatures.channel_string(SOCKET, channel, channel_data)
    data: dict[str, Any] = {"channel": channel, "auth": signatures.token("key", secret, message)}
    if channel_data is not None:
        data["channel_data"] = channel_data
    return data


def signin_data(user: dict[str, Any], secret: str = "secret") -> dict[str, Any]:
    user_data = json.dumps(user)
    auth = signatures.token("key", secret, signatures.signin_string(SOCKET, user_data))
    return {"user_data": user_data, "auth": auth}


def subscribe(s: p.Session, data: dict[str, Any]) -> p.Join:
    [action] = s.receive_text(frame("pusher:subscribe", data), 1.0)
    assert isinstance(action, p.Join)
    s.joined(action.grant)
    return action


# -- connecting, pings -------------------------------------------------------------------------


def test_opened_sends_connection_established() -> None:
    [msg] = sent(session().opened())
    assert msg["event"] == "pusher:connection_established"
    assert json.loads(msg["data"]) == {"socket_id": SOCKET, "activity_timeout": 120}


def test_ping_is_answered_with_pong() -> None:
    assert sent(session().receive_text(frame("pusher:ping", {}), 1.0)) == [{"event": "pusher:pong", "data": {}}]


def test_pong_is_silent() -> None:
    assert session().receive_text(frame("pusher:pong", {}), 1.0) == []


def test_invalid_json_is_a_non_closing_error() -> None:
    [msg] = sent(session().receive_text("{nope", 1.0))
    assert msg["event"] == "pusher:error" and msg["data"]["code"] is None


def test_unknown_event_is_a_non_closing_error() -> None:
    [msg] = sent(session().receive_text(frame("pusher:dance"), 1.0))
    assert msg["data"]["message"].startswith("Unsupported event")


def test_binary_frames_are_refused_without_closing() -> None:
    [msg] = sent(session().receive_binary(1.0))
    assert msg["event"] == "pusher:error" and msg["data"]["code"] is None


def test_quiet_connection_is_pinged_then_closed_with_4201() -> None:
    s = session(now=0.0)
    assert s.tick(119.0) == []
    assert sent(s.tick(120.0)) == [{"event": "pusher:ping", "data": {}}]
    assert s.tick(140.0) == []
    error, close = s.tick(150.0)
    assert isinstance(error, p.Send) and orjson.loads(error.payload)["data"]["code"] == Code.PONG_NOT_RECEIVED
    assert close == p.Close(Code.PONG_NOT_RECEIVED, "Pong reply not received")
    assert s.tick(200.0) == []  # closing: nothing more


def test_any_frame_resets_the_activity_clock() -> None:
    s = session(now=0.0)
    s.tick(120.0)  # ping sent
    s.receive_text(frame("pusher:pong", {}), 125.0)
    assert s.tick(150.0) == []  # answered: no 4201
    assert sent(s.tick(245.0)) == [{"event": "pusher:ping", "data": {}}]


def test_app_requiring_sign_in_closes_with_4009_after_the_deadline() -> None:
    s = session(now=0.0, enable_user_authentication=True)
    assert s.tick(29.0) == []
    actions = s.tick(30.0)
    assert actions[-1] == p.Close(Code.UNAUTHORIZED, "Connection not authorized within timeout.")


def test_a_private_subscription_authorizes_the_connection() -> None:
    s = session(now=0.0, enable_user_authentication=True)
    subscribe(s, signed("private-a"))
    assert s.tick(60.0) == []


# -- subscribing -------------------------------------------------------------------------------


def test_public_subscribe_asks_the_driver_to_join() -> None:
    s = session()
    action = subscribe(s, {"channel": "news"})
    assert action.grant.channel == "news" and s.channels == {"news": None}


def test_private_subscribe_with_a_bad_signature_is_a_subscription_error() -> None:
    [msg] = sent(session().receive_text(frame("pusher:subscribe", signed("private-a", secret="wrong")), 1.0))
    assert msg["event"] == "pusher:subscription_error" and msg["channel"] == "private-a"
    assert msg["data"]["status"] == 401


def test_presence_member_comes_from_channel_data() -> None:
    data = json.dumps({"user_id": "alice", "user_info": {"n": 1}})
    action = subscribe(session(), signed("presence-room", data))
    assert (action.grant.user_id, action.grant.user_info) == ("alice", {"n": 1})


def test_channels_per_connection_limit() -> None:
    s = session(limits=AppLimits(max_channels_per_connection=2))
    subscribe(s, {"channel": "a"})
    subscribe(s, {"channel": "b"})
    [msg] = sent(s.receive_text(frame("pusher:subscribe", {"channel": "c"}), 1.0))
    assert msg["event"] == "pusher:subscription_error" and msg["data"]["type"] == "LimitReached"
    # A channel already held is answered again, not counted twice.
    [again] = s.receive_text(frame("pusher:subscribe", {"channel": "a"}), 1.0)
    assert isinstance(again, p.Join)


def test_unsubscribe_of_a_held_channel_asks_to_leave_with_the_member_id() -> None:
    s = session()
    subscribe(s, signed("presence-room", json.dumps({"user_id": "alice"})))
    assert s.receive_text(frame("pusher:unsubscribe", {"channel": "presence-room"}), 1.0) == [
        p.Leave("presence-room", "alice")
    ]
    assert s.receive_text(frame("pusher:unsubscribe", {"channel": "other"}), 1.0) == []


# -- signing in --------------------------------------------------------------------------------


def test_signin_asks_the_driver_to_sign_in() -> None:
    s = session()
    [action] = s.receive_text(frame("pusher:signin", signin_data({"id": "alice"})), 1.0)
    assert isinstance(action, p.SignInUser) and action.result.user_id == "alice"


def test_signin_with_a_bad_signature_closes_with_4009() -> None:
    error, close = session().receive_text(frame("pusher:signin", signin_data({"id": "a"}, secret="x")), 1.0)
    assert isinstance(close, p.Close) and close.code == Code.UNAUTHORIZED
    assert isinstance(error, p.Send) and orjson.loads(error.payload)["data"]["code"] == Code.UNAUTHORIZED


def test_signin_as_another_user_closes_with_4009() -> None:
    s = session()
    [action] = s.receive_text(frame("pusher:signin", signin_data({"id": "alice"})), 1.0)
    assert isinstance(action, p.SignInUser)
    s.signed_in(action.result)
    actions = s.receive_text(frame("pusher:signin", signin_data({"id": "bob"})), 1.0)
    assert isinstance(actions[-1], p.Close) and actions[-1].code == Code.UNAUTHORIZED


def test_a_rotated_secret_is_the_only_one_accepted() -> None:
    s = session()
    s.set_app(App(id="1", key="key", secret="new"))
    [old] = sent(s.receive_text(frame("pusher:subscribe", signed("private-a")), 1.0))
    assert old["event"] == "pusher:subscription_error"
    [new] = s.receive_text(frame("pusher:subscribe", signed("private-a", secret="new")), 1.0)
    assert isinstance(new, p.Join)


def test_a_disabled_app_closes_with_4003() -> None:
    s = session()
    actions = s.set_app(app(enabled=False))
    assert actions[-1] == p.Close(Code.APP_DISABLED, "App is disabled")
    assert s.receive_text(frame("pusher:ping", {}), 1.0) == []  # closing: frames are ignored


# -- client events -----------------------------------------------------------------------------


def client_session() -> p.Session:
    s = session(enable_client_events=True)
    subscribe(s, signed("private-a"))
    return s


def test_client_event_is_relayed() -> None:
    s = client_session()
    assert s.receive_text(frame("client-x", {"a": 1}, "private-a"), 1.0) == [
        p.Relay("private-a", "client-x", '{"a":1}', None)
    ]


def test_client_event_on_a_channel_not_subscribed_is_a_4301() -> None:
    [msg] = sent(client_session().receive_text(frame("client-x", {}, "private-b"), 1.0))
    assert msg["data"]["code"] == Code.CLIENT_EVENT_REJECTED


def test_client_events_disabled_is_a_4301() -> None:
    s = session()
    subscribe(s, signed("private-a"))
    [msg] = sent(s.receive_text(frame("client-x", {}, "private-a"), 1.0))
    assert msg["data"]["code"] == Code.CLIENT_EVENT_REJECTED


def test_client_event_rate_limit() -> None:
    s = client_session()
    results = [s.receive_text(frame("client-x", {}, "private-a"), 1.5) for _ in range(11)]
    assert all(isinstance(r[0], p.Relay) for r in results[:10])
    assert sent(results[10])[0]["data"]["code"] == Code.CLIENT_EVENT_REJECTED
    assert isinstance(s.receive_text(frame("client-x", {}, "private-a"), 2.6)[0], p.Relay)  # a new second


def test_client_event_nested_300_deep_is_a_4301_not_a_crash() -> None:
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    [msg] = sent(client_session().receive_text(frame("client-x", deep, "private-a"), 1.0))
    assert msg["event"] == "pusher:error" and msg["data"]["code"] == Code.CLIENT_EVENT_REJECTED


def test_client_event_over_the_data_limit_is_a_4301() -> None:
    [msg] = sent(client_session().receive_text(frame("client-x", "x" * 10_241, "private-a"), 1.0))
    assert msg["data"]["code"] == Code.CLIENT_EVENT_REJECTED and "larger" in msg["data"]["message"]

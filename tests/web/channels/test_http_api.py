"""The Channels HTTP API against a running server: happy paths with exact JSON, then every refusal
(docs/protocol/channels.md §4). Refusals always carry a JSON body `{"error": "..."}`."""

from __future__ import annotations

import hashlib
import json
import time

import pusher
import pytest
import requests

from tests.support.server import RunningServer
from tests.support.ws_client import WsClient, close_all, connect_many
from tests.web.channels.conftest import HTTP_TIMEOUT, Api, assert_error_body, uniq
from tidings.channels.httpauth import sign_params

# -- triggering --------------------------------------------------------------------------------


async def test_trigger_delivers_exact_frame(server: RunningServer, api: Api) -> None:
    channel = uniq("trig-")
    async with await WsClient.connect(server.ws_url()) as client:
        await client.subscribe(channel)
        assert api.trigger_ok(channel, "my-event", '{"message":"hello"}') == {}
        assert await client.recv() == {"event": "my-event", "channel": channel, "data": '{"message":"hello"}'}
        # Non-string data is JSON-encoded once, so subscribers still get a string.
        assert api.trigger_ok(channel, "obj", {"a": [1, 2]}) == {}  # type: ignore[arg-type]
        frame = await client.recv()
        assert frame["event"] == "obj" and json.loads(frame["data"]) == {"a": [1, 2]}
        await client.expect_nothing()


async def test_trigger_with_the_python_sdk_to_several_channels(server: RunningServer, sdk: pusher.Pusher) -> None:
    one, two = uniq("sdk-a-"), uniq("sdk-b-")
    a, b = await connect_many(server.ws_url(), 2)
    try:
        await a.subscribe(one)
        await b.subscribe(two)
        await b.subscribe(one)
        assert sdk.trigger([one, two], "sdk-event", {"k": "v"}) == {}
        frame = await a.recv()
        assert frame["event"] == "sdk-event" and frame["channel"] == one and json.loads(frame["data"]) == {"k": "v"}
        got = {(await b.recv())["channel"], (await b.recv())["channel"]}
        assert got == {one, two}
        await a.expect_nothing(0.05)
        await b.expect_nothing(0.05)
    finally:
        await close_all([a, b])


async def test_trigger_socket_id_excludes_that_connection(server: RunningServer, api: Api) -> None:
    channel = uniq("excl-")
    a, b = await connect_many(server.ws_url(), 2)
    try:
        await a.subscribe(channel)
        await b.subscribe(channel)
        assert api.trigger_ok(channel, "ev", "d", socket_id=a.socket_id) == {}
        assert await b.recv() == {"event": "ev", "channel": channel, "data": "d"}
        await a.expect_nothing()
    finally:
        await close_all([a, b])


async def test_trigger_info_user_and_subscription_count(server: RunningServer, api: Api) -> None:
    presence, public = uniq("presence-info-"), uniq("info-")
    a, b = await connect_many(server.ws_url(), 2)
    try:
        for c in (a, b):  # one user, two sockets
            cd = json.dumps({"user_id": "same"})
            await c.subscribe(presence, auth=c.presence_auth(server.key, server.secret, presence, cd),
                              channel_data=cd)
        await a.subscribe(public)
        body = api.trigger_ok([presence, public], "ev", "{}", info="user_count,subscription_count")
        assert body == {
            "channels": {
                presence: {"user_count": 1, "subscription_count": 2},
                public: {"subscription_count": 1},
            }
        }
    finally:
        await close_all([a, b])


async def test_batch_events(server: RunningServer, api: Api) -> None:
    one, two = uniq("batch-a-"), uniq("batch-b-")
    async with await WsClient.connect(server.ws_url()) as client:
        await client.subscribe(one)
        await client.subscribe(two)
        r = api.post("/apps/{app}/batch_events", {"batch": [
            {"channel": one, "name": "first", "data": "1"},
            {"channel": two, "name": "second", "data": "2"},
        ]})
        assert r.status_code == 200 and r.json() == {}, r.text
        assert await client.recv() == {"event": "first", "channel": one, "data": "1"}
        assert await client.recv() == {"event": "second", "channel": two, "data": "2"}

        r = api.post("/apps/{app}/batch_events", {"batch": [
            {"channel": one, "name": "third", "data": "3", "info": "subscription_count"},
            {"channel": uniq("empty-"), "name": "fourth", "data": "4", "info": "subscription_count"},
        ]})
        assert r.status_code == 200, r.text
        assert r.json() == {"batch": [{"subscription_count": 1}, {"subscription_count": 0}]}
        assert await client.recv() == {"event": "third", "channel": one, "data": "3"}
        await client.expect_nothing()


async def test_batch_with_sdk(server: RunningServer, sdk: pusher.Pusher) -> None:
    channel = uniq("sdk-batch-")
    async with await WsClient.connect(server.ws_url()) as client:
        await client.subscribe(channel)
        assert sdk.trigger_batch([{"channel": channel, "name": f"e{i}", "data": {"i": i}} for i in range(3)]) == {}
        for i in range(3):
            frame = await client.recv()
            assert frame["event"] == f"e{i}" and json.loads(frame["data"]) == {"i": i}


# -- queries -----------------------------------------------------------------------------------


async def test_channels_channel_and_users(server: RunningServer, api: Api, sdk: pusher.Pusher) -> None:
    tag = uniq("q")
    public, presence = f"{tag}-public", f"presence-{tag}"
    a, b = await connect_many(server.ws_url(), 2)
    try:
        await a.subscribe(public)
        await b.subscribe(public)
        for c, uid in ((a, "u1"), (b, "u2")):
            cd = json.dumps({"user_id": uid, "user_info": {"name": uid}})
            await c.subscribe(presence, auth=c.presence_auth(server.key, server.secret, presence, cd),
                              channel_data=cd)

        assert api.get("/apps/{app}/channels", {"filter_by_prefix": tag}).json() == {"channels": {public: {}}}
        r = api.get("/apps/{app}/channels", {"filter_by_prefix": f"presence-{tag}", "info": "user_count"})
        assert r.status_code == 200 and r.json() == {"channels": {presence: {"user_count": 2}}}, r.text
        listed = api.get("/apps/{app}/channels").json()
        assert set(listed) == {"channels"} and {public, presence} <= set(listed["channels"])

        assert api.get(f"/apps/{{app}}/channels/{public}").json() == {"occupied": True}
        r = api.get(f"/apps/{{app}}/channels/{public}", {"info": "subscription_count"})
        assert r.json() == {"occupied": True, "subscription_count": 2}
        r = api.get(f"/apps/{{app}}/channels/{presence}", {"info": "user_count,subscription_count"})
        assert r.json() == {"occupied": True, "user_count": 2, "subscription_count": 2}
        assert api.get(f"/apps/{{app}}/channels/{tag}-nobody").json() == {"occupied": False}

        r = api.get(f"/apps/{{app}}/channels/{presence}/users")
        assert r.status_code == 200 and r.json() == {"users": [{"id": "u1"}, {"id": "u2"}]}

        # The official SDK sends body_md5 on GETs too, and never URL-encodes `info`.
        assert sdk.channels_info(prefix_filter=tag) == {"channels": {public: {}}}
        assert sdk.channel_info(presence, ["user_count"]) == {"occupied": True, "user_count": 2}
        assert sdk.users_info(presence) == {"users": [{"id": "u1"}, {"id": "u2"}]}
    finally:
        await close_all([a, b])


def test_channel_info_cache(server: RunningServer, api: Api) -> None:
    channel = uniq("cache-info-")
    assert api.get(f"/apps/{{app}}/channels/{channel}", {"info": "cache"}).json() == {"occupied": False}
    api.trigger_ok(channel, "ev", "cached-data")
    body = api.get(f"/apps/{{app}}/channels/{channel}", {"info": "cache"}).json()
    assert body["occupied"] is False and body["cache"]["data"] == "cached-data", body
    assert 0 < body["cache"]["ttl"] <= 1800


def test_terminate_connections_both_paths(server: RunningServer, api: Api, sdk: pusher.Pusher) -> None:
    r = api.post("/apps/{app}/users/someone/terminate_connections", {})
    assert r.status_code == 200 and r.json() == {}, r.text
    # pusher-http-python posts to /users/{id}/terminate_connections; the app is found by auth_key.
    r = api.post("/users/someone/terminate_connections", {})
    assert r.status_code == 200 and r.json() == {}, r.text
    assert sdk.terminate_user_connections("someone") == {}


# -- authentication refusals -------------------------------------------------------------------


def raw_request(server: RunningServer, method: str, path: str, params: dict[str, str],
                body: bytes = b"") -> requests.Response:
    headers = {"Content-Type": "application/json"} if body else {}
    return requests.request(method, server.http_url + path, params=params, data=body or None,
                            headers=headers, timeout=HTTP_TIMEOUT)


def test_bad_signature_401(server: RunningServer, api: Api) -> None:
    body = {"name": "ev", "channel": "c", "data": "{}"}
    assert_error_body(api.post("/apps/{app}/events", body, extra={"auth_signature": "0" * 64}), 401)
    assert_error_body(api.post("/apps/{app}/events", body, secret="wrong-secret"), 401)
    # A parameter added after signing breaks the signature.
    assert_error_body(api.post("/apps/{app}/events", body, extra={"extra": "1"}), 401)
    assert_error_body(api.get("/apps/{app}/channels", extra={"auth_signature": "x"}), 401)


def test_missing_auth_params_401(server: RunningServer) -> None:
    r = requests.get(f"{server.http_url}/apps/{server.app_id}/channels", timeout=HTTP_TIMEOUT)
    assert_error_body(r, 401)


def test_timestamp_window_600s(server: RunningServer, api: Api) -> None:
    now = int(time.time())
    assert_error_body(api.get("/apps/{app}/channels", timestamp=now - 601), 401)
    assert_error_body(api.get("/apps/{app}/channels", timestamp=now + 601), 401)
    assert api.get("/apps/{app}/channels", timestamp=now - 590).status_code == 200
    assert api.get("/apps/{app}/channels", timestamp=now + 590).status_code == 200


def test_wrong_auth_key_401(server: RunningServer, api: Api) -> None:
    assert_error_body(api.get("/apps/{app}/channels", key="other-key"), 401)
    body = {"name": "ev", "channel": "c", "data": "{}"}
    assert_error_body(api.post("/apps/{app}/events", body, key="other-key"), 401)


def test_body_md5_mismatch_401(server: RunningServer) -> None:
    path = f"/apps/{server.app_id}/events"
    signed_body = json.dumps({"name": "ev", "channel": "c", "data": "signed"}).encode()
    sent_body = json.dumps({"name": "ev", "channel": "c", "data": "tampered"}).encode()
    params = sign_params(server.key, server.secret, "POST", path, {}, signed_body)
    assert_error_body(raw_request(server, "POST", path, params, sent_body), 401)
    # A body without body_md5 at all.
    params = sign_params(server.key, server.secret, "POST", path, {})
    assert_error_body(raw_request(server, "POST", path, params, sent_body), 401)
    # The untampered request is fine.
    params = sign_params(server.key, server.secret, "POST", path, {}, signed_body)
    assert raw_request(server, "POST", path, params, signed_body).json() == {}


def test_body_md5_accepted_on_get(server: RunningServer) -> None:
    path = f"/apps/{server.app_id}/channels"
    params = sign_params(server.key, server.secret, "GET", path, {"body_md5": hashlib.md5(b"").hexdigest()})
    r = raw_request(server, "GET", path, params)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"channels"}


# -- not found ---------------------------------------------------------------------------------


def test_unknown_app_404(server: RunningServer, api: Api) -> None:
    other = Api(server, "999999", server.key, server.secret)
    assert_error_body(other.trigger("c", "ev", "{}"), 404)
    assert_error_body(other.get("/apps/{app}/channels"), 404)


@pytest.mark.parametrize("path", ["/nope", "/apps/123456/nope", "/apps/123456/events/extra", "/app"])
def test_unknown_path_404_json(server: RunningServer, path: str) -> None:
    r = requests.get(server.http_url + path, timeout=HTTP_TIMEOUT)
    assert_error_body(r, 404)


# -- size limits -------------------------------------------------------------------------------


def test_data_over_10kb_413(server: RunningServer, api: Api) -> None:
    assert_error_body(api.trigger("c", "ev", "x" * 10_241), 413)
    assert api.trigger_ok("c", "ev", "x" * 10_240) == {}
    r = api.post("/apps/{app}/batch_events", {"batch": [{"channel": "c", "name": "ev", "data": "x" * 10_241}]})
    assert_error_body(r, 413)


def test_request_body_over_max_413(server: RunningServer, api: Api) -> None:
    body = json.dumps({"name": "ev", "channel": "c", "data": "x" * (1024 * 1024 + 100)}).encode()
    try:
        r = api.post("/apps/{app}/events", body)
    except requests.ConnectionError as exc:  # the server may answer before reading it all, then hang up
        raise AssertionError(f"no 413 response for a too-large body: {exc}") from exc
    assert_error_body(r, 413)
    # The server is fine afterwards.
    assert api.trigger_ok("c", "ev", "{}") == {}


# -- validation --------------------------------------------------------------------------------


def test_more_than_100_channels_400(server: RunningServer, api: Api) -> None:
    assert_error_body(api.trigger([f"c{i}" for i in range(101)], "ev", "{}"), 400)
    assert api.trigger_ok([f"c{i}" for i in range(100)], "ev", "{}") == {}


def test_batch_of_11_400(server: RunningServer, api: Api) -> None:
    events = [{"channel": "c", "name": "ev", "data": str(i)} for i in range(11)]
    assert_error_body(api.post("/apps/{app}/batch_events", {"batch": events}), 400)
    r = api.post("/apps/{app}/batch_events", {"batch": events[:10]})
    assert r.status_code == 200 and r.json() == {}


@pytest.mark.parametrize("channel", ["bad channel", "bad*", "#reserved", "x" * 201, ""])
def test_invalid_channel_name_400(server: RunningServer, api: Api, channel: str) -> None:
    assert_error_body(api.trigger(channel, "ev", "{}"), 400)
    assert_error_body(api.trigger([channel], "ev", "{}"), 400)


@pytest.mark.parametrize("name", ["", "n" * 201, 42, None])
def test_invalid_event_name_400(server: RunningServer, api: Api, name: object) -> None:
    r = api.post("/apps/{app}/events", {"name": name, "channel": "c", "data": "{}"})
    assert_error_body(r, 400)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b'"text"', b"", b'{"channel": "c", "data": "{}"}', b'{"name": "e", "channel": "c"}'],
)
def test_malformed_trigger_body_400(server: RunningServer, api: Api, body: bytes) -> None:
    if body == b"":
        # An empty body has no body_md5 to sign; it is still not a valid event.
        r = api.request("POST", "/apps/{app}/events")
    else:
        r = api.post("/apps/{app}/events", body)
    assert_error_body(r, 400)


def test_malformed_batch_body_400(server: RunningServer, api: Api) -> None:
    assert_error_body(api.post("/apps/{app}/batch_events", b"{oops"), 400)
    assert_error_body(api.post("/apps/{app}/batch_events", {"batch": "nope"}), 400)


def test_users_of_non_presence_channel_400(server: RunningServer, api: Api) -> None:
    assert_error_body(api.get("/apps/{app}/channels/private-x/users"), 400)
    assert_error_body(api.get("/apps/{app}/channels/public-x/users"), 400)


def test_channels_user_count_needs_presence_prefix_400(server: RunningServer, api: Api) -> None:
    assert_error_body(api.get("/apps/{app}/channels", {"info": "user_count"}), 400)
    assert_error_body(api.get("/apps/{app}/channels", {"info": "user_count", "filter_by_prefix": "private-"}), 400)
    r = api.get("/apps/{app}/channels", {"info": "user_count", "filter_by_prefix": "presence-"})
    assert r.status_code == 200, r.text


def test_channel_info_not_fitting_the_type_400(server: RunningServer, api: Api) -> None:
    assert_error_body(api.get("/apps/{app}/channels/public-x", {"info": "user_count"}), 400)


def test_unknown_trigger_info_and_bad_socket_id_400(server: RunningServer, api: Api) -> None:
    assert_error_body(api.trigger("c", "ev", "{}", info="user_count,bogus"), 400)
    assert_error_body(api.trigger("c", "ev", "{}", socket_id="not-a-socket"), 400)
    assert_error_body(api.trigger("c", "ev", "{}", socket_id="1.2.3"), 400)


def test_channel_and_channels_together_400(server: RunningServer, api: Api) -> None:
    assert_error_body(api.post("/apps/{app}/events", {"name": "e", "data": "d", "channel": "a", "channels": ["b"]}),
                      400)
    assert_error_body(api.trigger([], "ev", "{}"), 400)


def test_encrypted_channel_with_others_400(server: RunningServer, api: Api) -> None:
    assert_error_body(api.trigger(["private-encrypted-a", "b"], "ev", "{}"), 400)


async def test_invalid_batch_delivers_nothing(server: RunningServer, api: Api) -> None:
    channel = uniq("atomic-")
    async with await WsClient.connect(server.ws_url()) as client:
        await client.subscribe(channel)
        r = api.post("/apps/{app}/batch_events", {"batch": [
            {"channel": channel, "name": "ok", "data": "1"},
            {"channel": "bad name", "name": "ok", "data": "2"},
        ]})
        assert_error_body(r, 400)
        await client.expect_nothing()


def test_wrong_method_is_json_error(server: RunningServer) -> None:
    r = requests.get(f"{server.http_url}/apps/{server.app_id}/events", timeout=HTTP_TIMEOUT)
    assert_error_body(r, 405)


async def test_sdk_with_every_allowed_channel_character(server: RunningServer, sdk: pusher.Pusher) -> None:
    channel = uniq("presence-a-b_c=d@e,f.g;h-")
    async with await WsClient.connect(server.ws_url()) as client:
        cd = json.dumps({"user_id": "x@y"})
        await client.subscribe(channel, auth=client.presence_auth(server.key, server.secret, channel, cd),
                               channel_data=cd)
        assert sdk.trigger(channel, "ev", "odd") == {}
        assert await client.recv() == {"event": "ev", "channel": channel, "data": "odd"}
        assert sdk.channel_info(channel, ["user_count"]) == {"occupied": True, "user_count": 1}
        assert sdk.users_info(channel) == {"users": [{"id": "x@y"}]}
        assert sdk.channels_info(prefix_filter=channel, attributes=["user_count"]) == {
            "channels": {channel: {"user_count": 1}}
        }

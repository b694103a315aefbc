"""Property-based fuzzing of a real server: WebSocket frames, the Channels HTTP API and the Beams APIs.

Whatever arrives, the server answers in the protocol's own error format (never a 5xx, never a crash or a
hang), the WebSocket connection survives refused frames (a ping afterwards gets a pong), and the server
log has no traceback. HTTP requests go over a raw TCP socket so that paths, query strings and header
bytes are sent exactly as generated; Channels requests are correctly signed (tidings' own signer over
the raw path) so the fuzzing reaches past authentication.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.support.inprocess import start_inprocess
from tests.support.server import RunningServer
from tests.support.ws_client import WsClient
from tidings.channels import signatures
from tidings.channels.httpauth import sign_params

# On CI the examples are derandomized: the same inputs every run, so CI is reproducible; a developer's runs
# keep exploring new inputs (and hypothesis keeps any failure it finds in .hypothesis/ to replay).
FUZZ = settings(
    max_examples=100, deadline=None, derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TIMEOUT = 10.0
# An answer the server owes (a pong, a subscription's outcome) may take long on a loaded machine: waiting for it
# generously costs nothing when it comes; a server that never answers fails the example at this bound.
WAIT = 30.0
ROUND = 90.0  # seconds for one whole example
CHANNELS_ERROR_STATUSES = {400, 401, 403, 404, 405, 413}
ALLOWED_WS_CLOSE = {4009, 1009}
MAX_MESSAGE = 64 * 1024  # the server's max_message_bytes (default): a longer message ends the connection, 1009

# -- strategies ---------------------------------------------------------------------------------------

# Any code point, lone surrogates included (json.dumps escapes them as \ud800-style escapes).
any_char = st.characters(codec=None, exclude_categories=())
any_text = st.text(any_char, max_size=40)
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | any_text
    | st.sampled_from(["", "x" * 5000, "\ud800", "\udfff\ud800", "é" * 300, "\x00"])
)
json_values = st.recursive(
    scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(any_text, c, max_size=4), max_leaves=12
)
channel_names = st.one_of(
    st.builds(
        lambda p, s: p + s,
        st.sampled_from(["", "private-", "presence-", "private-encrypted-", "#server-to-user-", "private-cache-",
                         "cache-", "presence-cache-", "#", "-"]),
        st.one_of(st.text(st.sampled_from("abc-_=@,.;"), min_size=1, max_size=12), any_text),
    ),
    st.sampled_from(["a" * 200, "a" * 165, "private-" + "b" * 300]),
)


@st.composite
def ws_frames(draw: st.DrawFn) -> dict[str, Any]:
    """One frame: an event (mostly protocol ones) with data of a random or protocol-like shape.

    `_sign` asks the test to replace auth with a valid signature for the connection's socket id."""
    event = draw(st.sampled_from(["pusher:subscribe", "pusher:unsubscribe", "pusher:signin", "pusher:ping",
                                  "pusher:pong", "client-x", "pusher_internal:x", "pusher:"]) | any_text)
    data: Any
    shape = draw(st.sampled_from(["subscribe", "signin", "random"]))
    if shape == "subscribe":
        data = {"channel": draw(channel_names | json_values)}
        if draw(st.booleans()):
            data["auth"] = draw(any_text | json_values)
        if draw(st.booleans()):
            cd = draw(st.dictionaries(st.sampled_from(["user_id", "user_info", "x"]), json_values, max_size=3))
            data["channel_data"] = draw(st.sampled_from([json.dumps(cd), cd]) | any_text)
    elif shape == "signin":
        ud = draw(st.dictionaries(st.sampled_from(["id", "user_info", "watchlist", "x"]), json_values, max_size=3))
        data = {"user_data": draw(st.sampled_from([json.dumps(ud), ud]) | any_text)}
        if draw(st.booleans()):
            data["auth"] = draw(any_text | json_values)
    else:
        data = draw(json_values)
    frame: dict[str, Any] = {"event": event}
    if draw(st.integers(0, 9)) > 0:
        frame["data"] = data
    if draw(st.booleans()):
        frame["channel"] = draw(channel_names | json_values)
    frame["_sign"] = draw(st.booleans())
    return frame


def _sign_frame(frame: dict[str, Any], client: WsClient, key: str, secret: str) -> str:
    frame = dict(frame)
    sign = frame.pop("_sign")
    data = frame.get("data")
    if sign and isinstance(data, dict) and client.socket_id is not None:
        data = dict(data)
        if frame["event"] == "pusher:subscribe" and isinstance(data.get("channel"), str):
            cd = data.get("channel_data")
            msg = signatures.channel_string(client.socket_id, data["channel"], cd if isinstance(cd, str) else None)
            data["auth"] = signatures.token(key, secret, msg)
        elif frame["event"] == "pusher:signin" and isinstance(data.get("user_data"), str):
            data["auth"] = signatures.token(key, secret, signatures.signin_string(client.socket_id, data["user_data"]))
        frame["data"] = data
    return json.dumps(frame)


raw_ws_payloads = st.one_of(
    st.binary(max_size=200),
    any_text,
    st.sampled_from([
        '{"event":"pusher:ping","data":' + "1" * 5000 + "}",  # int beyond Python's str-digits limit
        '{"event":"pusher:subscribe","data":{"channel":"a","x":' + "9" * 5000 + "}}",
        '{"event":"pusher:ping","data":' + "[" * 100_000 + "]" * 100_000 + "}",  # deep nesting
        '{"event":"pusher:ping","data":1e999}',
        '{"event":"pusher:ping","data":NaN}',
        '{"event":"pusher:subscribe","data":{"channel":"\\ud800"}}',
        '{"event":"client-\\ud800","channel":"private-a","data":{}}',
        '{"event":"pusher:subscribe","data":{"channel":"presence-a","auth":"test-key:00","channel_data":"\\udc00"}}',
        '\ufeff{"event":"pusher:ping","data":{}}',
    ]),
)


# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def beams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str, str]]:
    instance_id, secret = str(uuid.uuid4()), secrets.token_hex(32).upper()
    srv = start_inprocess(
        Path(tmp_path_factory.mktemp("tidings-beams")),
        env={"TIDINGS_DEFAULT_INSTANCE_ID": instance_id, "TIDINGS_DEFAULT_INSTANCE_SECRET": secret},
    )
    yield srv, instance_id, secret
    srv.stop()


def assert_clean_log(server: RunningServer) -> None:
    log = server.log()
    for needle in ("Traceback", "Error handling request", "unhandled error", "Task exception was never retrieved"):
        assert needle not in log, log[log.index(needle) - 2000:log.index(needle) + 4000]
    assert server.running(), "server exited"


# -- raw HTTP -----------------------------------------------------------------------------------------


def raw_http(server: RunningServer, method: str, target: str, *, body: bytes = b"",
             headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Send one request exactly as given; returns status, headers (lowercased names) and body."""
    lines = [f"{method} {target} HTTP/1.1".encode("utf-8", "surrogateescape"),
             f"Host: {server.host}:{server.port}".encode(), b"Connection: close",
             f"Content-Length: {len(body)}".encode()]
    for name, value in headers or []:
        lines.append(name + b": " + value)
    request = b"\r\n".join(lines) + b"\r\n\r\n" + body
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    assert raw, f"no response to {method} {target[:200]!r}"
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ")[1])
    hdrs = {}
    for line in header_lines:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        out = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out += rest[:size]
            rest = rest[size + 2:]
        rest = out
    return status, hdrs, rest


def check_channels_response(status: int, hdrs: dict[str, str], body: bytes, what: str) -> None:
    assert status < 500, (what, status, body[:500])
    if status >= 400:
        assert status in CHANNELS_ERROR_STATUSES, (what, status, body[:500])
        assert hdrs.get("content-type", "").startswith("application/json"), (what, status, hdrs, body[:300])
        parsed = json.loads(body)
        assert isinstance(parsed, dict) and set(parsed) == {"error"}, (what, parsed)
        assert isinstance(parsed["error"], str) and parsed["error"], (what, parsed)


def check_beams_response(status: int, hdrs: dict[str, str], body: bytes, what: str) -> None:
    assert status < 500, (what, status, body[:500])
    if status >= 400:
        assert hdrs.get("content-type", "").startswith("application/json"), (what, status, hdrs, body[:300])
        parsed = json.loads(body)
        assert isinstance(parsed, dict) and set(parsed) == {"error", "description"}, (what, parsed)
        assert all(isinstance(parsed[k], str) and parsed[k] for k in parsed), (what, parsed)


# -- HTTP strategies ----------------------------------------------------------------------------------

segments = st.one_of(
    st.text(any_char, min_size=1, max_size=30).map(lambda s: quote(s.encode("utf-8", "surrogatepass"), safe="")),
    st.text(st.sampled_from("abc-_.~!$&'()*+,;=:@%"), min_size=1, max_size=20),
    st.sampled_from(["%", "%zz", "%00", "%ff%fe", "%ed%a0%80", "..", ".", "%2F", "a%2Fb", "x" * 3000,
                     "%e9" * 50, "presence-a", "private-a", "#server-to-user-1", "%23server-to-user-1"]),
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"1" * 5000, b'{"name":"e","channel":"a","data":' + b"1" * 5000 + b"}",
                     b"[" * 50_000 + b"]" * 50_000, b'"\\ud800"', b"\xff\xfe", b"NaN", b"1e999"]),
)


@st.composite
def trigger_bodies(draw: st.DrawFn) -> bytes:
    keys = ["name", "data", "channel", "channels", "socket_id", "info", "batch", "x"]
    body: dict[str, Any] = {}
    for k in draw(st.lists(st.sampled_from(keys), max_size=6, unique=True)):
        if k in ("channel",):
            body[k] = draw(channel_names | json_values)
        elif k == "channels":
            body[k] = draw(st.lists(channel_names, max_size=4) | json_values)
        elif k == "batch":
            body[k] = draw(st.lists(st.dictionaries(st.sampled_from(keys), channel_names | json_values, max_size=5),
                                    max_size=3) | json_values)
        elif k == "info":
            body[k] = draw(st.sampled_from(["user_count", "subscription_count", "user_count,subscription_count"])
                           | json_values)
        else:
            body[k] = draw(any_text | json_values)
    return json.dumps(body).encode()


header_values = st.one_of(
    # Control bytes are refused by aiohttp's HTTP parser itself (see test_aiohttp_parser_level_refusals).
    st.binary(max_size=40).map(lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F)),
    st.sampled_from([b"application/json", b"application/json; charset=\xff", b"text/plain; charset=latin-1",
                     b"multipart/form-data; boundary=x", b"application/x-www-form-urlencoded",
                     b"Bearer \xc3\x28", b"Bearer ", b"Basic \xff", b"\xff\xfe"]),
)
header_names = st.sampled_from([b"Content-Type", b"Authorization", b"X-Pusher-Library",
                                b"Origin", b"Accept", b"X-Forwarded-For", b"Cookie", b"User-Agent"])
# Unique names: a repeated Content-Type is refused by aiohttp's parser too (same class as control bytes).
extra_headers = st.lists(st.tuples(header_names, header_values), max_size=3, unique_by=lambda h: h[0])
query_params = st.dictionaries(
    st.sampled_from(["info", "filter_by_prefix", "x", "auth_key", "socket_id", "channel"]) | any_text,
    any_text, max_size=3,
)

CHANNELS_ROUTES = [
    ("POST", "/apps/{app}/events"),
    ("POST", "/apps/{app}/batch_events"),
    ("GET", "/apps/{app}/channels"),
    ("GET", "/apps/{app}/channels/{seg}"),
    ("GET", "/apps/{app}/channels/{seg}/users"),
    ("POST", "/apps/{app}/users/{seg}/terminate_connections"),
    ("POST", "/users/{seg}/terminate_connections"),
]


def _query(params: dict[str, str]) -> str:
    return urlencode({k.encode("utf-8", "surrogatepass"): v.encode("utf-8", "surrogatepass")
                      for k, v in params.items()})


# -- WebSocket property -------------------------------------------------------------------------------


def _utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def _ws_round(server: RunningServer, payloads: list[dict[str, Any] | str | bytes]) -> None:
    client = await WsClient.connect(server.ws_url(), timeout=WAIT)
    oversize = False
    try:
        for payload in payloads:
            raw = _sign_frame(payload, client, server.key, server.secret) if isinstance(payload, dict) else payload
            if isinstance(raw, str) and not _utf8_encodable(raw):
                # The websockets client fails its own connection (1006) when it cannot UTF-8 encode a text
                # message, before anything is sent; send those bytes as a binary frame instead.
                raw = raw.encode("utf-8", "surrogatepass")
            try:
                await client.send_raw(raw)
            except Exception:
                break
            if len(raw if isinstance(raw, bytes) else raw.encode()) > MAX_MESSAGE:
                # The server fails the connection on it (1009) and closes the socket: what we wrote after it
                # would only race its close frame (our write hitting the closed socket resets the connection
                # before we read the frame).
                oversize = True
                break
        if not oversize:
            try:
                await client.send("pusher:ping", {})
            except Exception:
                pass
        while True:
            try:
                frame = await client.recv(WAIT)
            except AssertionError as exc:  # closed, or no frame within WAIT seconds (close_code stays None)
                allowed = {1009} if oversize else ALLOWED_WS_CLOSE
                assert client.close_code in allowed, (str(exc), client.close_code, client.close_reason, payloads)
                return
            event = frame.get("event")
            assert isinstance(event, str), frame
            if event == "pusher:error":
                assert isinstance(frame["data"], dict) and isinstance(frame["data"].get("message"), str), frame
                assert frame["data"]["message"], frame
            if event == "pusher:pong" and not oversize:  # (after an oversize message: read on, to its 1009)
                break
        assert client.is_open
    finally:
        await client.close()


@FUZZ
@given(payloads=st.lists(ws_frames() | raw_ws_payloads, min_size=1, max_size=4))
@example(payloads=['{"event":"pusher:ping","data":' + "1" * 5000 + "}"])
@example(payloads=['{"event":"pusher:subscribe","data":{"channel":"\\ud800"}}'])
@example(payloads=["\ud800"])  # not UTF-8 encodable: goes as a binary frame (see _ws_round)
def test_ws_frames_never_break_connection(server: RunningServer, payloads: list[Any]) -> None:
    asyncio.run(asyncio.wait_for(_ws_round(server, payloads), ROUND))
    assert_clean_log(server)


@FUZZ
@given(channel=st.sampled_from(["private-fz", "presence-fz"]), user_info=json_values, data=json_values,
       event=any_text)
def test_ws_client_events_after_valid_subscribe(server: RunningServer, channel: str, user_info: Any, data: Any,
                                                event: str) -> None:
    """Signed subscriptions (random presence user_info), then client events with random names and data."""

    async def go() -> None:
        a = await WsClient.connect(server.ws_url(), timeout=WAIT)
        b = await WsClient.connect(server.ws_url(), timeout=WAIT)
        try:
            for c in (a, b):
                cd = json.dumps({"user_id": c.socket_id, "user_info": user_info}) if channel[0] == "p" and \
                    channel.startswith("presence-") else None
                auth = (c.presence_auth(server.key, server.secret, channel, cd) if cd is not None
                        else c.private_auth(server.key, server.secret, channel))
                await c.send_subscribe(channel, auth=auth, channel_data=cd)
                frame = await c.recv(WAIT)
                # A presence member's channel_data has a size limit: refused in the protocol's format.
                assert frame["event"] in ("pusher_internal:subscription_succeeded", "pusher:subscription_error"), frame
            await a.send_raw(json.dumps({"event": "client-" + event, "channel": channel, "data": data}))
            for c in (a, b):
                await c.send("pusher:ping", {})
                await c.wait_for("pusher:pong", timeout=WAIT)
        finally:
            await a.close()
            await b.close()

    asyncio.run(asyncio.wait_for(go(), ROUND))
    assert_clean_log(server)


# -- Channels HTTP property ---------------------------------------------------------------------------


@FUZZ
@given(route=st.sampled_from(CHANNELS_ROUTES), seg=segments, body=bodies | trigger_bodies(), params=query_params,
       headers=extra_headers, signed=st.integers(0, 5), method_override=st.sampled_from([None, "PUT", "DELETE"]))
@example(route=("POST", "/apps/{app}/events"), seg="a",
         body=b'{"name":"e","channel":"a","data":' + b"1" * 5000 + b"}", params={}, headers=[], signed=1,
         method_override=None)
def test_channels_http_api(server: RunningServer, route: tuple[str, str], seg: str, body: bytes,
                           params: dict[str, str], headers: list[tuple[bytes, bytes]], signed: int,
                           method_override: str | None) -> None:
    method, template = route
    path = template.replace("{app}", server.app_id).replace("{seg}", seg)
    if method_override is not None and signed == 0:
        method = method_override
    if method == "GET" and signed != 5:
        body = b""
    if signed:  # mostly signed correctly, over the exact raw path and decoded params
        query_params = {k.encode("utf-8", "surrogatepass").decode("utf-8", "replace"):
                        v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in params.items()}
        query = urlencode(sign_params(server.key, server.secret, method, path, query_params, body))
    else:
        query = _query(params)
    status, hdrs, rbody = raw_http(server, method, f"{path}?{query}", body=body, headers=headers)
    check_channels_response(status, hdrs, rbody, f"{method} {path[:200]}?{query[:200]}")
    assert_clean_log(server)


@FUZZ
# Request lines over 8190 bytes get a text/plain 400 from aiohttp (see test_aiohttp_parser_level_refusals).
@given(path=st.lists(segments, min_size=1, max_size=5).map(lambda s: ("/" + "/".join(s))[:6000]),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"]),
       headers=extra_headers, query=query_params)
def test_channels_http_arbitrary_paths(server: RunningServer, path: str, method: str,
                                       headers: list[tuple[bytes, bytes]], query: dict[str, str]) -> None:
    for target in (path, "/apps" + path, "/apps/" + server.app_id + path):
        status, hdrs, body = raw_http(server, method, f"{target}?{_query(query)}", headers=headers)
        assert status < 500, (method, target, status, body[:300])
        if target.startswith("/apps/") and status >= 400 and method != "HEAD":
            check_channels_response(status, hdrs, body, f"{method} {target}")
    assert_clean_log(server)


# -- Beams property -----------------------------------------------------------------------------------

BEAMS_ROUTES = [
    ("POST", "/publish_api/v1/instances/{id}/publishes"),
    ("POST", "/publish_api/v1/instances/{id}/publishes/interests"),
    ("POST", "/publish_api/v1/instances/{id}/publishes/users"),
    ("GET", "/publish_api/v1/instances/{id}/publishes/{seg}"),
    ("DELETE", "/customer_api/v1/instances/{id}/users/{seg}"),
    ("DELETE", "/user_api/v1/instances/{id}/users/{seg}"),
    ("POST", "/reporting_api/v2/instances/{id}/events"),
    ("GET", "{dev}/web-vapid-public-key"),
    ("POST", "{dev}/devices/{plat}"),
    ("GET", "{dev}/devices/{plat}/{seg}"),
    ("DELETE", "{dev}/devices/{plat}/{seg}"),
    ("PUT", "{dev}/devices/{plat}/{seg}/token"),
    ("PUT", "{dev}/devices/{plat}/{seg}/metadata"),
    ("PUT", "{dev}/devices/{plat}/{seg}/user"),
    ("POST", "{dev}/devices/{plat}/{seg}/interests/{seg2}"),
    ("DELETE", "{dev}/devices/{plat}/{seg}/interests/{seg2}"),
    ("PUT", "{dev}/devices/{plat}/{seg}/interests"),
    ("GET", "{dev}/devices/{plat}/{seg}/interests"),
]


@st.composite
def beams_bodies(draw: st.DrawFn) -> bytes:
    keys = ["interests", "users", "web", "fcm", "apns", "token", "metadata", "interests", "webhookUrl",
            "publishId", "deviceId", "event", "instanceId", "timestampSecs", "userId", "endpoint", "keys",
            "publicKey", "sdkVersion", "data", "notification", "deep_link", "x"]
    body: dict[str, Any] = {}
    for k in draw(st.lists(st.sampled_from(keys), max_size=6, unique=True)):
        body[k] = draw(
            st.lists(any_text, max_size=4)
            | st.dictionaries(st.sampled_from(keys) | any_text, json_values, max_size=4)
            | json_values
        )
    return json.dumps(body).encode()


@FUZZ
@given(route=st.sampled_from(BEAMS_ROUTES), seg=segments, seg2=segments,
       plat=st.sampled_from(["web", "fcm", "apns"]) | segments,
       dev=st.sampled_from(["/device_api/v1/instances/{id}", "/instances/{id}"]),
       body=bodies | beams_bodies(), params=query_params, headers=extra_headers,
       auth=st.sampled_from(["good", "good", "none", "bad"]), use_id=st.integers(0, 4),
       other_id=segments, method_override=st.sampled_from([None, None, "PATCH", "POST", "GET"]))
def test_beams_http_api(beams: tuple[RunningServer, str, str], route: tuple[str, str], seg: str, seg2: str,
                        plat: str, dev: str, body: bytes, params: dict[str, str],
                        headers: list[tuple[bytes, bytes]], auth: str, use_id: int, other_id: str,
                        method_override: str | None) -> None:
    server, instance_id, secret = beams
    method, template = route
    method = method_override or method
    iid = instance_id if use_id else other_id
    path = (template.replace("{dev}", dev).replace("{id}", iid).replace("{plat}", plat)
            .replace("{seg2}", seg2).replace("{seg}", seg))
    hdrs = list(headers)
    if auth == "good":
        hdrs.append((b"Authorization", f"Bearer {secret}".encode()))
    elif auth == "bad":
        hdrs.append((b"Authorization", b"Bearer " + secrets.token_hex(32).encode()))
    if method == "GET":
        body = b""
    if body and not any(n == b"Content-Type" for n, _ in hdrs):
        hdrs.append((b"Content-Type", b"application/json"))
    target = f"{path}?{_query(params)}" if params else path
    status, rh, rbody = raw_http(server, method, target, body=body, headers=hdrs)
    check_beams_response(status, rh, rbody, f"{method} {target[:300]} {body[:200]!r}")
    assert_clean_log(server)


def test_logs_clean_at_end(server: RunningServer, beams: tuple[RunningServer, str, str]) -> None:
    assert_clean_log(server)
    assert_clean_log(beams[0])


@pytest.mark.parametrize("header", [
    (b"Authorization", b"\x14"),  # control byte in a value
    (b"X-Caf\xe9", b"1"),  # non-token byte in a name
    (b"Content-Encoding", b"deflate"),  # body that does not inflate
    (b"Content-Encoding", b"br"),  # no Brotli decoder installed
])
def test_malformed_http_is_refused_and_the_server_keeps_serving(
    server: RunningServer, header: tuple[bytes, bytes]
) -> None:
    """aiohttp's HTTP parser refuses these before any tidings code runs: a 400 (text/plain, its own format,
    not the API's JSON), never a 5xx, and the next well-formed request is served as usual."""
    status, _, _ = raw_http(server, "POST", "/apps/123456/events", body=b"\x00", headers=[header])
    assert status == 400, status
    status, _, body = raw_http(server, "GET", "/health")
    assert status == 200 and b"ok" in body, (status, body)

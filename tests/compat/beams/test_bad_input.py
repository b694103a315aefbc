"""Bad input to the Beams HTTP APIs: one table, one row per refusal, plain HTTP with `requests`.

Each row gives the exact status and the `{"error": <title>, "description": <text>}` body expected (both
fields must be non-empty strings: the Node SDK crashes on an empty error body and rejects with "Could not
parse response body" when a field is missing). After every refused request the stored state must be
unchanged: GET device and GET interests of the watched devices are compared before and after.

Where the expected strings come from (pusher/docs docs/beams/reference/*.md error tables, and the ruby
SDK's VCR recordings of the real service, see docs/protocol/beams.md):

- `error` (the title) is compared case-insensitively: the docs themselves write "Bad request" for the
  publish API and "Bad Request" for the device API.
- `description` given as a string is compared exactly, except that a trailing "." is ignored (the docs'
  tables end their descriptions with "."; the real service answered "Could not find the instance" without).
- `description` given as a regular expression is used where the docs document only a generic text for the
  status ("JSON does not our match schema." for every 422 of the publish API): the pattern then pins the
  part a developer needs (which field, which limit). It is matched case-insensitively against the whole text.
- 422 titles: the docs table says "Unprocessable Entity", the real service was recorded answering
  "Bad Request" / "`interests`: interests is required" (ruby cassettes, 2019); both are accepted.
- A user id over 164 characters is a 400 "Bad request" / "'User id' is too long, max length is 164" (the
  recorded real reply), in a publish to users as in DELETE user.

Token for another instance (a Beams Token made by the SDK of another instance, i.e. signed with that
instance's secret, `iss` naming that instance): **401**. The server must verify the signature with *this*
instance's secret before it trusts any claim; that check fails first, so the token is refused as unauthorised.
The 403 "Invalid JWT issuer." of the docs is for a token that *is* signed with this instance's secret but whose
`iss` names another instance; that is its own row (`put-user-wrong-issuer`).
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote

import jwt
import pytest
import requests
from pusher_push_notifications import PushNotifications

from tests.compat.beams.conftest import BeamsHttp, BeamsInstance, describe
from tests.support.push_endpoint import PushService

pytestmark = [pytest.mark.compat, pytest.mark.slow]

KIB = 1024
MAX_DEVICES_PER_USER = 100
WEB = {"web": {"notification": {"title": "Hello", "body": "bad input test"}}}

# -- requests ---------------------------------------------------------------------------------------------


@dataclass
class Req:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    watch: list[str] = field(default_factory=list)  # extra device ids whose state must not change

    @classmethod
    def json(cls, method: str, path: str, payload: Any, headers: dict[str, str] | None = None,
             **kw: Any) -> Req:
        return cls(method, path, {"Content-Type": "application/json", **(headers or {})},
                   json.dumps(payload, separators=(",", ":")).encode(), **kw)


def token(instance: BeamsInstance, claims: dict[str, Any], key: str | None = None) -> str:
    return jwt.encode(claims, key or instance.secret, algorithm="HS256")


def claims(instance: BeamsInstance, sub: str, **over: Any) -> dict[str, Any]:
    base = {"sub": sub, "iss": instance.issuer, "exp": int(time.time()) + 3600}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class World:
    """The stored state the bad requests must not touch, created once per module."""

    def __init__(self, api: BeamsHttp, instance: BeamsInstance, push: PushService) -> None:
        self.api = api
        self.i = instance
        self.push = push
        self.sdk = PushNotifications(instance.id, instance.secret)  # generate_token only (local)
        # alice's device: associated, with interests. spare: no user, one interest.
        self.alice_device = api.register_web(push.new_subscription())
        api.set_user(self.alice_device, self.sdk.generate_token("alice")["token"])
        api.set_interests(self.alice_device, ["news", "sport"])
        self.spare_device = api.register_web(push.new_subscription())
        api.set_interests(self.spare_device, ["weather"])

    # -- paths --------------------------------------------------------------------------------------------
    def publish_path(self, kind: str = "interests", instance_id: str | None = None) -> str:
        suffix = f"/{kind}" if kind else ""
        return f"/publish_api/v1/instances/{instance_id or self.i.id}/publishes{suffix}"

    def user_path(self, user: str, api: str = "customer_api", instance_id: str | None = None) -> str:
        return f"/{api}/v1/instances/{instance_id or self.i.id}/users/{quote(user, safe='')}"

    def device_path(self, rest: str, instance_id: str | None = None) -> str:
        return self.api.device_path(rest, instance_id)

    def auth(self, secret: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret or self.i.secret}"}

    def publish(self, body: Any, kind: str = "interests", **kw: Any) -> Req:
        return Req.json("POST", self.publish_path(kind), body, self.auth(), **kw)

    def put_user(self, device: str, bearer: str | None) -> Req:
        headers = {} if bearer is None else {"Authorization": f"Bearer {bearer}"}
        return Req("PUT", self.device_path(f"/devices/web/{device}/user"), headers, None, watch=[device])

    # -- the 101st device of one user --------------------------------------------------------------------
    @cached_property
    def full_user(self) -> str:
        """A user with the maximum of 100 web devices."""
        user = f"heavy-{uuid.uuid4().hex[:6]}"
        bearer = self.sdk.generate_token(user)["token"]
        for _ in range(MAX_DEVICES_PER_USER):
            self.api.set_user(self.api.register_web(self.push.new_subscription()), bearer)
        return user

    def device_101(self) -> Req:
        user = self.full_user
        extra = self.api.register_web(self.push.new_subscription())
        return self.put_user(extra, self.sdk.generate_token(user)["token"])

    # -- state --------------------------------------------------------------------------------------------
    def snapshot(self, extra: list[str]) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for device in [self.alice_device, self.spare_device, *extra]:
            d = self.api.get_device(device)
            i = self.api.get_interests(device)
            state[device] = {
                "device": (d.status_code, d.json() if d.status_code == 200 else None),
                "interests": (i.status_code, sorted(i.json()["interests"]) if i.status_code == 200 else None),
            }
        return state


# -- the table ------------------------------------------------------------------------------------------------

Text = str | re.Pattern[str]


def rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I | re.S)


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[World], Req]
    status: int
    error: str | tuple[str, ...]  # alternatives allowed (see UNPROCESSABLE)
    description: Text


# The docs' title for 422 is "Unprocessable Entity"; the real service was recorded sending "Bad Request".
UNPROCESSABLE = ("Unprocessable Entity", "Bad Request")
BAD_JSON = b'{"interests": ["donuts"], "web": {'
UNKNOWN = "00000000-0000-4000-8000-000000000000"
INCORRECT_KEY = rx(r"Incorrect (Secret|API) Key\.?")
INSTANCE_NOT_FOUND = "Could not find the instance"
NOT_JSON_OBJECT = "Failed to read body as a JSON object."
CONTENT_TYPE = "Only `application/json` is supported."
BAD_INTEREST = "`interest-name` given is not valid."
USER_ID_TOO_LONG = "'User id' is too long, max length is 164"


def _oversize(limit: int, kind: str) -> Callable[[World], Req]:
    def build(w: World) -> Req:
        targets = {"interests": ["donuts"]} if kind == "interests" else {"users": ["alice"]}
        body: dict[str, Any] = {**targets, "web": {"notification": {"title": "big", "body": ""}}}
        base = len(json.dumps(body, separators=(",", ":")))
        body["web"]["notification"]["body"] = "x" * (limit - base + 1)  # one byte over the limit
        req = w.publish(body, kind)
        assert len(req.body or b"") == limit + 1
        return req
    return build


CASES = [
    # -- credentials ------------------------------------------------------------------------------------------
    Case("publish-interests-wrong-secret",
         lambda w: Req.json("POST", w.publish_path("interests"), {"interests": ["news"], **WEB},
                            w.auth(w.i.secret + "0")),
         401, "Unauthorized", INCORRECT_KEY),
    Case("publish-users-wrong-secret",
         lambda w: Req.json("POST", w.publish_path("users"), {"users": ["alice"], **WEB}, w.auth("not-the-secret")),
         401, "Unauthorized", INCORRECT_KEY),
    Case("publish-legacy-path-wrong-secret",
         lambda w: Req.json("POST", w.publish_path(""), {"interests": ["news"], **WEB}, w.auth("not-the-secret")),
         401, "Unauthorized", INCORRECT_KEY),
    Case("delete-user-wrong-secret",
         lambda w: Req("DELETE", w.user_path("alice"), w.auth("not-the-secret")),
         401, "Unauthorized", INCORRECT_KEY),
    Case("delete-user-user-api-wrong-secret",
         lambda w: Req("DELETE", w.user_path("alice", "user_api"), w.auth("not-the-secret")),
         401, "Unauthorized", INCORRECT_KEY),
    Case("publish-without-authorization",
         lambda w: Req.json("POST", w.publish_path("interests"), {"interests": ["news"], **WEB}),
         400, "Incomplete Request", "Authorization header is missing."),
    # -- unknown instance ----------------------------------------------------------------------------------------
    Case("publish-unknown-instance",
         lambda w: Req.json("POST", w.publish_path("interests", UNKNOWN), {"interests": ["news"], **WEB}, w.auth()),
         404, "Instance not found", INSTANCE_NOT_FOUND),
    Case("publish-users-unknown-instance",
         lambda w: Req.json("POST", w.publish_path("users", UNKNOWN), {"users": ["alice"], **WEB}, w.auth()),
         404, "Instance not found", INSTANCE_NOT_FOUND),
    Case("delete-user-unknown-instance",
         lambda w: Req("DELETE", w.user_path("alice", instance_id=UNKNOWN), w.auth()),
         404, "Instance not found", INSTANCE_NOT_FOUND),
    Case("register-device-unknown-instance",
         lambda w: Req.json("POST", w.device_path("/devices/web", UNKNOWN),
                            {"token": w.push.new_subscription().token, "metadata": {"sdkVersion": "2.1.0"}}),
         404, "Instance not found", INSTANCE_NOT_FOUND),
    Case("vapid-key-unknown-instance",
         lambda w: Req("GET", w.device_path("/web-vapid-public-key", UNKNOWN)),
         404, "Instance not found", INSTANCE_NOT_FOUND),
    # -- malformed JSON / not an object / content type -----------------------------------------------------------
    Case("publish-malformed-json",
         lambda w: Req("POST", w.publish_path("interests"), {"Content-Type": "application/json", **w.auth()},
                       BAD_JSON),
         400, "Bad request", NOT_JSON_OBJECT),
    Case("publish-users-malformed-json",
         lambda w: Req("POST", w.publish_path("users"), {"Content-Type": "application/json", **w.auth()}, b"{"),
         400, "Bad request", NOT_JSON_OBJECT),
    Case("publish-body-not-an-object",
         lambda w: w.publish(["donuts"]),
         400, "Bad request", NOT_JSON_OBJECT),
    Case("register-device-malformed-json",
         lambda w: Req("POST", w.device_path("/devices/web"), {"Content-Type": "application/json"}, b'{"token": '),
         400, "Bad request", NOT_JSON_OBJECT),
    Case("set-interests-malformed-json",
         lambda w: Req("PUT", w.device_path(f"/devices/web/{w.alice_device}/interests"),
                       {"Content-Type": "application/json"}, b'{"interests": ["a",'),
         400, "Bad request", NOT_JSON_OBJECT),
    Case("publish-text-plain",
         lambda w: Req("POST", w.publish_path("interests"), {"Content-Type": "text/plain", **w.auth()},
                       json.dumps({"interests": ["news"], **WEB}).encode()),
         400, "Invalid content type", CONTENT_TYPE),
    Case("publish-form-encoded",
         lambda w: Req("POST", w.publish_path("users"),
                       {"Content-Type": "application/x-www-form-urlencoded", **w.auth()}, b"users=alice"),
         400, "Invalid content type", CONTENT_TYPE),
    Case("register-device-text-plain",
         lambda w: Req("POST", w.device_path("/devices/web"), {"Content-Type": "text/plain"},
                       json.dumps({"token": w.push.new_subscription().token}).encode()),
         400, "Invalid content type", CONTENT_TYPE),
    # -- body size ---------------------------------------------------------------------------------------------
    Case("publish-interests-over-10KiB", _oversize(10 * KIB, "interests"),
         400, "Bad request", "Request body size is too large (max 10KiB)."),
    Case("publish-users-over-200KiB", _oversize(200 * KIB, "users"),
         400, "Bad request", "Request body size is too large (max 200KiB)."),
    # -- publish schema (422) ------------------------------------------------------------------------------------
    Case("publish-1001-users",
         lambda w: w.publish({"users": [f"user-{n}" for n in range(1001)], **WEB}, "users"),
         422, UNPROCESSABLE, rx(r".*\busers\b.*\b1000\b.*")),
    Case("publish-no-users",
         lambda w: w.publish({"users": [], **WEB}, "users"),
         422, UNPROCESSABLE, rx(r".*\busers\b.*")),
    Case("publish-101-interests",
         lambda w: w.publish({"interests": [f"i-{n}" for n in range(101)], **WEB}),
         422, UNPROCESSABLE, rx(r".*\binterests\b.*\b100\b.*")),
    Case("publish-no-interests",
         lambda w: w.publish({"interests": [], **WEB}),
         422, UNPROCESSABLE, rx(r".*\binterests\b.*")),
    Case("publish-missing-interests",
         lambda w: w.publish(dict(WEB)),
         422, UNPROCESSABLE, rx(r".*\binterests\b.*required.*")),
    Case("publish-bad-interest-name",
         lambda w: w.publish({"interests": ["news", "bad interest!"], **WEB}),
         422, UNPROCESSABLE, rx(r".*interest.*")),
    Case("publish-interest-name-165-chars",
         lambda w: w.publish({"interests": ["i" * 165], **WEB}),
         422, UNPROCESSABLE, rx(r".*interest.*164.*")),
    Case("publish-user-id-165-chars",
         lambda w: w.publish({"users": ["alice", "u" * 165], **WEB}, "users"),
         400, "Bad request", USER_ID_TOO_LONG),
    Case("publish-data-pusher-web",
         lambda w: w.publish({"interests": ["news"], "web": {"notification": {"title": "x"},
                                                              "data": {"pusher": {"publishId": "fake"}}}}),
         422, UNPROCESSABLE, rx(r".*\bpusher\b.*")),
    Case("publish-data-pusher-web-users",
         lambda w: w.publish({"users": ["alice"], "web": {"data": {"pusher": "x", "mine": 1}}}, "users"),
         422, UNPROCESSABLE, rx(r".*\bpusher\b.*")),
    Case("publish-no-platform",
         lambda w: w.publish({"interests": ["news"], "webhookUrl": "http://127.0.0.1:9/hook"}),
         422, UNPROCESSABLE, rx(r".*\b(apns|fcm|web)\b.*")),
    Case("publish-users-no-platform",
         lambda w: w.publish({"users": ["alice"]}, "users"),
         422, UNPROCESSABLE, rx(r".*\b(apns|fcm|web)\b.*")),
    # -- interest names on the device API (400) ------------------------------------------------------------------
    Case("add-interest-bad-name",
         lambda w: Req("POST", w.device_path(f"/devices/web/{w.spare_device}/interests/{quote('bad interest!')}")),
         400, "Invalid interest name", BAD_INTEREST),
    Case("add-interest-165-chars",
         lambda w: Req("POST", w.device_path(f"/devices/web/{w.spare_device}/interests/{'i' * 165}")),
         400, "Invalid interest name", BAD_INTEREST),
    Case("set-interests-bad-name",
         lambda w: Req.json("PUT", w.device_path(f"/devices/web/{w.alice_device}/interests"),
                            {"interests": ["fine", "not/fine"]}),
         400, "Invalid interest name", BAD_INTEREST),
    # -- user ids over 164 chars (400) ---------------------------------------------------------------------------
    Case("delete-user-id-165-chars",
         lambda w: Req("DELETE", w.user_path("u" * 165), w.auth()),
         400, "Bad request", USER_ID_TOO_LONG),
    Case("delete-user-id-165-chars-user-api",
         lambda w: Req("DELETE", w.user_path("u" * 165, "user_api"), w.auth()),
         400, "Bad request", USER_ID_TOO_LONG),
    Case("put-user-sub-165-chars",
         lambda w: w.put_user(w.spare_device, token(w.i, claims(w.i, "u" * 165))),
         400, "Bad Request", "JWT subject (sub) must be between 1-164 characters long"),
    # -- Beams Tokens ----------------------------------------------------------------------------------------------
    Case("put-user-without-authorization",
         lambda w: w.put_user(w.spare_device, None),
         401, "Unauthorized", "`Authorization` header token is missing."),
    Case("put-user-malformed-token",
         lambda w: w.put_user(w.spare_device, "not-a-jwt"),
         401, "Unauthorized", "`Authorization` header token is malformed."),
    Case("put-user-expired-token",
         lambda w: w.put_user(w.spare_device, token(w.i, claims(w.i, "alice", exp=int(time.time()) - 60))),
         401, "Unauthorized", rx(r".*expir.*")),
    Case("put-user-token-for-another-instance",
         lambda w: w.put_user(w.spare_device, PushNotifications(
             str(uuid.uuid4()), "ANOTHER-INSTANCES-SECRET").generate_token("alice")["token"]),
         401, "Unauthorized", rx(r".+")),
    Case("put-user-forged-signature",
         lambda w: w.put_user(w.spare_device, token(w.i, claims(w.i, "mallory"), key="guessed-secret")),
         401, "Unauthorized", rx(r".+")),
    Case("put-user-tampered-payload",
         lambda w: w.put_user(w.spare_device, _tampered(w)),
         401, "Unauthorized", rx(r".+")),
    Case("put-user-alg-none",
         lambda w: w.put_user(w.spare_device, _alg_none(w)),
         401, "Unauthorized", rx(r".+")),
    Case("put-user-wrong-issuer",
         lambda w: w.put_user(w.spare_device, token(w.i, claims(
             w.i, "alice", iss=f"https://{uuid.uuid4()}.pushnotifications.pusher.com"))),
         403, "Forbidden", "Invalid JWT issuer."),
    Case("put-user-missing-exp",
         lambda w: w.put_user(w.spare_device, token(w.i, claims(w.i, "alice", exp=None))),
         400, "Bad Request", "Missing expiration (exp) field in JWT"),
    Case("put-user-missing-sub",
         lambda w: w.put_user(w.spare_device, token(w.i, {k: v for k, v in claims(w.i, "x").items() if k != "sub"})),
         400, "Bad Request", "Missing subject (sub) field in JWT"),
    Case("put-user-missing-iss",
         lambda w: w.put_user(w.spare_device, token(w.i, claims(w.i, "alice", iss=None))),
         400, "Bad Request", "Missing issuer (iss) field in JWT"),
    # -- device/user association -----------------------------------------------------------------------------------
    Case("put-user-different-user-on-associated-device",
         lambda w: w.put_user(w.alice_device, w.sdk.generate_token("bob")["token"]),
         400, "Bad Request", "A User Id is already associated with this device."),
    Case("put-user-101st-device-of-a-user",
         lambda w: w.device_101(),
         422, UNPROCESSABLE, "User already has reached the maximum of 100 devices."),
    Case("put-user-unknown-device",
         lambda w: w.put_user(f"web-{uuid.uuid4()}", w.sdk.generate_token("alice")["token"]),
         404, "Device not found", "Could not find the device."),
    Case("get-interests-bad-limit",
         lambda w: Req("GET", w.device_path(f"/devices/web/{w.alice_device}/interests?limit=abc")),
         400, "Bad Request", "`limit` given is not valid."),
]


def _tampered(w: World) -> str:
    """A genuine token for alice with the payload swapped for mallory's: the signature no longer matches."""
    header, _, signature = w.sdk.generate_token("alice")["token"].split(".")
    payload = b64url(json.dumps(claims(w.i, "mallory")).encode())
    return f"{header}.{payload}.{signature}"


def _alg_none(w: World) -> str:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims(w.i, "mallory")).encode())
    return f"{header}.{payload}."


# -- the test ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(api: BeamsHttp, beams_instance: BeamsInstance, push_service: PushService) -> Iterator[World]:
    yield World(api, beams_instance, push_service)


def send(api: BeamsHttp, req: Req) -> requests.Response:
    return api.request(req.method, req.path, headers=req.headers, data=req.body)


def matches(expected: Text, actual: str) -> bool:
    if isinstance(expected, re.Pattern):
        return expected.fullmatch(actual) is not None
    return actual.rstrip(".") == expected.rstrip(".")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(world: World, api: BeamsHttp, case: Case) -> None:
    req = case.build(world)
    before = world.snapshot(req.watch)
    r = send(api, req)
    after = world.snapshot(req.watch)

    assert r.status_code == case.status, f"{case.id}: expected {case.status}{describe(r)}"
    try:
        body = r.json()
    except ValueError:
        pytest.fail(f"{case.id}: the error body is not JSON{describe(r)}")
    assert isinstance(body, dict), f"{case.id}: error body is not an object{describe(r)}"
    error, description = body.get("error"), body.get("description")
    assert isinstance(error, str) and error.strip(), f"{case.id}: empty or missing `error`{describe(r)}"
    assert isinstance(description, str) and description.strip(), (
        f"{case.id}: empty or missing `description`{describe(r)}")
    titles = (case.error,) if isinstance(case.error, str) else case.error
    assert error.lower() in [t.lower() for t in titles], (
        f"{case.id}: error {error!r}, expected {' or '.join(map(repr, titles))}{describe(r)}")
    assert matches(case.description, description), (
        f"{case.id}: description {description!r}, expected {case.description!r}{describe(r)}")
    assert after == before, f"{case.id}: stored state changed\n  before: {before}\n  after: {after}"


# -- controls: the limits themselves are accepted ------------------------------------------------------------------


def test_limits_are_inclusive(world: World, api: BeamsHttp) -> None:
    """The boundary values are fine, so the 4xx rows above are about the limit and nothing else."""
    ok = [
        ("100 interests", world.publish({"interests": [f"i-{n}" for n in range(100)], **WEB})),
        ("1000 users", world.publish({"users": [f"user-{n}" for n in range(1000)], **WEB}, "users")),
        ("164-char interest and user", world.publish({"interests": ["i" * 164], **WEB})),
        ("164-char user", world.publish({"users": ["u" * 164], **WEB}, "users")),
        ("all interest characters", world.publish({"interests": ["AZaz09_-=@,.;"], **WEB})),
        ("legacy publish path", Req.json("POST", world.publish_path(""), {"interests": ["news"], **WEB},
                                         world.auth())),
        ("delete 164-char user", Req("DELETE", world.user_path("u" * 164), world.auth())),
        ("delete 164-char user, user_api", Req("DELETE", world.user_path("u" * 164, "user_api"), world.auth())),
    ]
    for limit, kind in ((10 * KIB, "interests"), (200 * KIB, "users")):
        body: dict[str, Any] = {kind: ["news"] if kind == "interests" else ["alice"],
                                "web": {"notification": {"title": "big", "body": ""}}}
        body["web"]["notification"]["body"] = "x" * (limit - len(json.dumps(body, separators=(",", ":"))))
        req = world.publish(body, kind)
        assert len(req.body or b"") == limit
        ok.append((f"{kind} body of exactly {limit} bytes", req))
    for what, req in ok:
        r = send(api, req)
        assert r.status_code == 200, f"{what}{describe(r)}"


def test_device_limit_is_per_platform_and_per_user(world: World, api: BeamsHttp) -> None:
    """The user with 100 web devices can still get an FCM device; another user is unaffected."""
    user = world.full_user
    fcm = api.register_fcm(f"fcm-token-{uuid.uuid4().hex}")
    r = api.put_user(fcm, world.sdk.generate_token(user)["token"], platform="fcm")
    assert r.status_code == 200, describe(r)
    assert api.device(fcm, "fcm")["userId"] == user
    other = api.register_web(world.push.new_subscription())
    api.set_user(other, world.sdk.generate_token(f"{user}-other")["token"])
    assert api.device(other)["userId"] == f"{user}-other"

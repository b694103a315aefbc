"""Hostile and extreme input to the Beams APIs of a real `tidings serve`, on SQLite and on PostgreSQL.

One table, one row per request that once answered 500: NUL characters anywhere (PostgreSQL keeps none, in
text or in JSONB, so every id, token, user, interest, payload and report field is checked before it is
stored), JSON nested 300 deep (orjson encodes at most 254 levels), and percent-escapes that are malformed or
decode to something that is not UTF-8 text. Each must be refused with a 4xx and the Beams error body
`{"error": <title>, "description": <text>}`, never a 500, and the server log must stay free of tracebacks
and of the values sent.

Then what the extreme but valid inputs must do: DELETE user deletes the user's devices (so a publish to their
interests afterwards reaches none of them), the largest interest set a device may have is accepted, and
reports are taken only from the devices a publish targeted, once per event.

Requests go through http.client, which sends the path exactly as written (requests re-quotes `%zz`).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.storage.postgres import temporary_database
from tests.support.inprocess import start_inprocess
from tests.support.server import RunningServer
from tidings.beams import tokens
from tidings.storage import open_storage
from tidings.storage.schema import beams_deliveries, beams_reports

SECRET = secrets.token_hex(32).upper()
WEB = {"web": {"notification": {"title": "hi", "body": "there"}}}
NUL_MARK = "nulmark"  # travels next to every NUL, so the log can be searched for the values sent


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


# -- a server per backend -------------------------------------------------------------------------------------


@dataclass
class Beams:
    server: RunningServer
    database_url: str
    instance_id: str
    device_id: str  # an FCM device with interests, no user
    publish_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {SECRET}"}

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
             ) -> tuple[int, str, bytes]:
        """(status, content type, body). `path` may use {i} for the instance id and {d} for the device id."""
        path = path.replace("{i}", self.instance_id).replace("{d}", self.device_id).replace("{p}", self.publish_id)
        sent = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=sent)
            reply = conn.getresponse()
            return reply.status, reply.getheader("Content-Type") or "", reply.read()
        finally:
            conn.close()

    def ok(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        status, _, raw = self.call(method, path, body, headers)
        assert status == 200, (method, path, status, raw[:500])
        return json.loads(raw) if raw else None

    def register_fcm(self, interests: list[str] | None = None, user: str | None = None) -> str:
        device = self.ok("POST", "/device_api/v1/instances/{i}/devices/fcm", {"token": f"fcm-{uuid.uuid4()}"})["id"]
        if interests:
            self.ok("PUT", f"/device_api/v1/instances/{{i}}/devices/fcm/{device}/interests", {"interests": interests})
        if user is not None:
            token = tokens.issue(self.instance_id, SECRET, user, now=time.time())
            self.ok("PUT", f"/device_api/v1/instances/{{i}}/devices/fcm/{device}/user",
                    headers={"Authorization": f"Bearer {token}"})
        return str(device)

    def publish(self, kind: str, body: dict[str, Any]) -> str:
        return str(self.ok("POST", f"/publish_api/v1/instances/{{i}}/publishes/{kind}", body, self.auth)["publishId"])


def database(backend: str, tmp: Path) -> AbstractContextManager[str]:
    if backend == "postgres":
        return temporary_database("tidings_hostile")
    return nullcontext(f"sqlite+aiosqlite:///{tmp / 'tidings.db'}")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def beams(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Beams]:
    tmp = tmp_path_factory.mktemp(f"beams-{request.param}")
    instance_id = str(uuid.uuid4())
    with database(request.param, tmp) as url:
        server = start_inprocess(tmp / "data", env={
            "TIDINGS_DATABASE_URL": url,
            "TIDINGS_DEFAULT_INSTANCE_ID": instance_id,
            "TIDINGS_DEFAULT_INSTANCE_SECRET": SECRET,
            "TIDINGS_DELIVERY_WORKERS": "0",  # publishes stay queued: what storage says is what the tests set up
        })
        try:
            world = Beams(server, url, instance_id, "", "")
            world.device_id = world.register_fcm(["news"])
            world.publish_id = world.publish("interests", {"interests": ["news"], **WEB})
            yield world
        finally:
            server.stop()


def in_storage(beams: Beams, action: Callable[[Any], Any]) -> Any:
    """Run `action(storage)` on the server's database, from this process."""
    async def run() -> Any:
        storage = await open_storage(beams.database_url)
        try:
            return await action(storage)
        finally:
            await storage.close()
    return asyncio.run(run())


# -- the table ------------------------------------------------------------------------------------------------

DEV = "/device_api/v1/instances/{i}"
BARE = "/instances/{i}"  # the device API without its prefix (Android's override style)
PUB = "/publish_api/v1/instances/{i}"
EVENTS = "/reporting_api/v2/instances/{i}/events"
N = f"{NUL_MARK}\u0000"  # a NUL, where it is sent as JSON text
P = f"{NUL_MARK}%00"  # a NUL, where it is sent in a path


@dataclass(frozen=True)
class Row:
    id: str
    method: str
    path: str
    body: Any = None
    auth: str | None = None  # "secret" (publish/customer APIs), or a Beams Token's user id (PUT user)
    status: int = 400


def report(**fields: Any) -> dict[str, Any]:
    return {"event": "open", "publishId": "{p}", "deviceId": "{d}", "timestampSecs": 1_700_000_000, **fields}


def publish_users(**fields: Any) -> dict[str, Any]:
    return {"users": ["alice"], **WEB, **fields}


ROWS = [
    # -- NUL in ids taken from the path ---------------------------------------------------------------------
    Row("vapid-instance-nul", "GET", f"/device_api/v1/instances/{P}/web-vapid-public-key"),
    Row("register-instance-nul", "POST", f"/device_api/v1/instances/{P}/devices/fcm", {"token": "t"}),
    Row("get-device-nul", "GET", f"{DEV}/devices/fcm/{P}"),
    Row("get-device-nul-bare", "GET", f"{BARE}/devices/fcm/{P}"),
    Row("delete-device-nul", "DELETE", f"{DEV}/devices/fcm/{P}"),
    Row("metadata-device-nul", "PUT", f"{DEV}/devices/fcm/{P}/metadata", {"a": "b"}),
    Row("add-interest-nul", "POST", f"{DEV}/devices/fcm/{{d}}/interests/{P}"),
    Row("remove-interest-nul", "DELETE", f"{DEV}/devices/fcm/{{d}}/interests/{P}"),
    Row("list-interests-device-nul", "GET", f"{DEV}/devices/fcm/{P}/interests"),
    Row("publish-status-nul", "GET", f"{PUB}/publishes/{P}", auth="secret"),
    Row("delete-user-nul", "DELETE", f"/customer_api/v1/instances/{{i}}/users/{P}", auth="secret"),
    Row("delete-user-nul-user-api", "DELETE", f"/user_api/v1/instances/{{i}}/users/{P}", auth="secret"),
    Row("report-instance-nul", "POST", f"/reporting_api/v2/instances/{P}/events", report()),
    # -- NUL in bodies and tokens -----------------------------------------------------------------------------
    Row("register-token-nul", "POST", f"{DEV}/devices/fcm", {"token": N}),
    Row("register-metadata-key-nul", "POST", f"{DEV}/devices/fcm", {"token": "t", "metadata": {N: "1"}}),
    Row("register-metadata-value-nul", "POST", f"{DEV}/devices/fcm", {"token": "t", "metadata": {"sdkVersion": N}}),
    Row("register-previous-ids-nul", "POST", f"{DEV}/devices/fcm", {"token": "t", "knownPreviousClientIds": [N]}),
    Row("register-bundle-nul", "POST", f"{DEV}/devices/apns", {"token": "abcd", "bundleIdentifier": N}),
    Row("set-metadata-nul", "PUT", f"{DEV}/devices/fcm/{{d}}/metadata", {"sdkVersion": N}),
    Row("set-fcm-token-nul", "PUT", f"{DEV}/devices/fcm/{{d}}/token", {"token": N}),
    Row("set-interests-nul", "PUT", f"{DEV}/devices/fcm/{{d}}/interests", {"interests": [N]}),
    Row("set-user-sub-nul", "PUT", f"{DEV}/devices/fcm/{{d}}/user", auth=N),
    Row("report-publish-nul", "POST", EVENTS, report(publishId=N)),
    Row("report-device-nul", "POST", EVENTS, report(deviceId=N)),
    Row("report-user-nul", "POST", EVENTS, report(userId=N)),
    Row("report-instance-field-nul", "POST", EVENTS, report(instanceId=N)),
    Row("publish-user-nul", "POST", f"{PUB}/publishes/users", publish_users(users=[N]), auth="secret"),
    Row("publish-title-nul", "POST", f"{PUB}/publishes/users",
        publish_users(web={"notification": {"title": N}}), auth="secret"),
    Row("publish-data-key-nul", "POST", f"{PUB}/publishes/interests",
        {"interests": ["news"], "fcm": {"data": {N: 1}}}, auth="secret"),
    Row("publish-unknown-field-nul", "POST", f"{PUB}/publishes", {"interests": ["news"], **WEB, "x": N},
        auth="secret"),
    # -- nested 300 deep --------------------------------------------------------------------------------------------
    Row("register-metadata-deep", "POST", f"{DEV}/devices/fcm", {"token": "t", "metadata": deep(300)}),
    Row("set-metadata-deep", "PUT", f"{DEV}/devices/fcm/{{d}}/metadata", deep(300)),
    Row("publish-data-deep", "POST", f"{PUB}/publishes/users",
        publish_users(web={"notification": {"title": "x"}, "data": deep(300)}), auth="secret"),
    Row("publish-interests-data-deep", "POST", f"{PUB}/publishes/interests",
        {"interests": ["news"], "apns": {"aps": {"alert": "x"}, "data": deep(300)}}, auth="secret"),
    Row("report-deep", "POST", EVENTS, report(extra=deep(300))),
    # -- invalid percent-escapes ------------------------------------------------------------------------------------
    *[
        Row(f"delete-user-{name}-{api}", "DELETE", f"/{api}/v1/instances/{{i}}/users/{escape}", auth="secret")
        for api in ("customer_api", "user_api")
        for name, escape in [("ff", "%ff"), ("surrogate", "%ed%a0%80"), ("truncated-utf8", "bob%e2%82"),
                             ("not-hex", "%zz"), ("lone-percent", "bob%"), ("half-escape", "bob%4")]
    ],
    Row("vapid-instance-ff", "GET", "/device_api/v1/instances/%ff/web-vapid-public-key"),
    Row("get-device-ff", "GET", f"{DEV}/devices/fcm/%ff"),
    Row("get-device-not-hex", "GET", f"{DEV}/devices/fcm/a%zz"),
    Row("delete-device-ff", "DELETE", f"{DEV}/devices/fcm/%ff"),
    Row("delete-device-ff-bare", "DELETE", f"{BARE}/devices/fcm/%ff"),
    Row("add-interest-ff", "POST", f"{DEV}/devices/fcm/{{d}}/interests/%ff"),
    Row("publish-status-ff", "GET", f"{PUB}/publishes/%ff", auth="secret"),
    Row("publish-instance-ff", "POST", "/publish_api/v1/instances/%ff/publishes/users", publish_users(),
        auth="secret"),
    Row("report-instance-ff", "POST", "/reporting_api/v2/instances/%ff/events", report()),
]


def headers_for(beams: Beams, row: Row) -> dict[str, str]:
    if row.auth is None:
        return {}
    if row.auth == "secret":
        return beams.auth
    return {"Authorization": f"Bearer {tokens.issue(beams.instance_id, SECRET, row.auth, now=time.time())}"}


def body_for(beams: Beams, row: Row) -> Any:
    if row.body is None:
        return None
    text = json.dumps(row.body)  # json.dumps writes NUL as \u0000
    return text.replace("{p}", beams.publish_id).replace("{d}", beams.device_id).encode()


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_hostile_input_gets_a_beams_4xx_never_a_500(beams: Beams, row: Row) -> None:
    status, content_type, raw = beams.call(row.method, row.path, body_for(beams, row), headers_for(beams, row))

    assert status == row.status, (status, raw[:500])
    assert content_type.startswith("application/json"), content_type
    body = json.loads(raw)
    assert set(body) == {"error", "description"}, body
    assert all(isinstance(v, str) and v for v in body.values()), body
    assert NUL_MARK not in raw.decode(), body  # the refusal does not echo what was sent


def test_nothing_refused_was_stored_and_the_log_is_clean(beams: Beams) -> None:
    """Runs after the table (same module server): no traceback, no value sent, no request that got through."""
    log = beams.server.log()
    for needle in ("Traceback", "unhandled error", "Error handling request"):
        assert needle not in log, log[max(0, log.find(needle) - 2000):log.find(needle) + 2000]
    # The values sent appear at most in the access log's request lines (logged at debug level only).
    leaked = [line for line in log.splitlines() if NUL_MARK in line and "aiohttp.access" not in line]
    assert not leaked, leaked[:5]
    # Still the one device the fixture registered, with its one interest.
    interests = beams.ok("GET", f"{DEV}/devices/fcm/{{d}}/interests")
    assert interests["interests"] == ["news"]


# -- DELETE user ------------------------------------------------------------------------------------------------


def test_delete_user_deletes_their_devices_and_publishes_afterwards_reach_none(beams: Beams) -> None:
    user = f"alice-{uuid.uuid4().hex[:6]}"
    interest = f"news-{uuid.uuid4().hex[:6]}"
    theirs = [beams.register_fcm([interest], user) for _ in range(2)]
    others = beams.register_fcm([interest], f"bob-{uuid.uuid4().hex[:6]}")

    status, _, raw = beams.call("DELETE", f"/customer_api/v1/instances/{{i}}/users/{user}", headers=beams.auth)

    assert (status, raw) == (200, b"")  # what the real service answers (ruby cassette delete/user.yml)
    for device in theirs:
        assert beams.call("GET", f"{DEV}/devices/fcm/{device}")[0] == 404
        assert beams.call("GET", f"{DEV}/devices/fcm/{device}/interests")[0] == 404
    assert beams.ok("GET", f"{DEV}/devices/fcm/{others}")["id"] == others
    # A publish to their interest is accepted; the devices it can reach are the others' only.
    beams.publish("interests", {"interests": [interest], **WEB})
    beams.publish("users", {"users": [user], **WEB})

    async def audiences(storage: Any) -> tuple[list[str], list[str]]:
        by_interest = await storage.devices.page_by_interests(beams.instance_id, [interest], after=None, limit=100)
        by_user = await storage.devices.page_by_users(beams.instance_id, [user], after=None, limit=100)
        return [d.id for d in by_interest], [d.id for d in by_user]

    assert in_storage(beams, audiences) == ([others], [])
    # Deleting a user without devices (or again) is still a 200.
    assert beams.call("DELETE", f"/user_api/v1/instances/{{i}}/users/{user}", headers=beams.auth)[:1] == (200,)


# -- the largest interest set -------------------------------------------------------------------------------------


def test_a_device_may_set_5000_interests_of_164_characters(beams: Beams) -> None:
    device = beams.register_fcm()
    names = [f"{n:04d}-" + "i" * 159 for n in range(5000)]
    assert all(len(name) == 164 for name in names)

    status, _, raw = beams.call("PUT", f"{DEV}/devices/fcm/{device}/interests", {"interests": names})

    assert status == 200, raw[:500]
    first = beams.ok("GET", f"{DEV}/devices/fcm/{device}/interests?limit=100")
    assert first["interests"] == names[:100]
    last = beams.ok("GET", f"{DEV}/devices/fcm/{device}/interests?limit=100&cursor=4900")
    assert last["interests"] == names[4900:] and last["responseMetadata"] == {}
    # One more is too many (the documented limit), and says so.
    status, _, raw = beams.call("PUT", f"{DEV}/devices/fcm/{device}/interests", {"interests": [*names, "one-more"]})
    assert status == 400 and json.loads(raw)["error"] == "Interest set too large", raw[:500]


# -- reports --------------------------------------------------------------------------------------------------------


def test_reports_are_taken_from_targeted_devices_once_per_event(beams: Beams) -> None:
    targeted, bystander = beams.register_fcm(), beams.register_fcm()
    publish_id = beams.publish("interests", {"interests": ["news"], **WEB})

    async def expand(storage: Any) -> None:  # what the delivery worker writes when it expands the publish
        async with storage.engine.begin() as conn:
            await conn.execute(beams_deliveries.insert().values(
                publish_id=publish_id, device_id=targeted, platform="fcm", outcome="pending", attempts=0,
                created_at=datetime.now(UTC),
            ))

    async def reports(storage: Any) -> list[tuple[str, str]]:
        r = beams_reports.c
        async with storage.engine.connect() as conn:
            rows = await conn.execute(
                beams_reports.select().with_only_columns(r.device_id, r.event).where(r.publish_id == publish_id)
            )
            return sorted((row[0], row[1]) for row in rows)

    in_storage(beams, expand)
    sent = [
        {"event": "Delivery", "deviceId": targeted},
        {"event": "Delivery", "deviceId": targeted},  # a retry (the mobile SDKs retry unconfirmed reports)
        {"event": "delivery", "deviceId": targeted},  # the same event in the web SDK's spelling
        {"event": "open", "deviceId": bystander, "userId": "alice"},  # never sent this publish: forged
        {"event": "open", "deviceId": f"fcm-{uuid.uuid4()}"},  # no such device
        {"event": "open", "deviceId": targeted},
    ]
    for fields in sent:
        status, _, raw = beams.call("POST", EVENTS, {**report(publishId=publish_id), **fields})
        # Always 200, as the real service answers: a refusal would tell a caller which devices a publish reached.
        assert (status, raw) == (200, b""), (fields, raw[:300])

    assert in_storage(beams, reports) == sorted([(targeted, "delivery"), (targeted, "open")])
    status = beams.ok("GET", f"{PUB}/publishes/{publish_id}", headers=beams.auth)
    assert status["reports"] == {"delivery": 1, "open": 1}

"""schemathesis against a live server: every operation of the OpenAPI description, with generated valid and
invalid inputs, answers no 5xx and nothing the description does not allow (status, content type, body, headers).

Requests carry real credentials, added by a `before_call` hook: Channels HTTP API requests are signed
(channels/httpauth.py) over the exact bytes sent, Beams publish/customer requests carry the instance's secret
key and `PUT .../user` a Beams Token. Path ids are mostly the live server's (its app, its instance, devices
and a publish made here) so requests reach the handlers' deeper paths, sometimes the generated ones.
Bounded: a few examples per operation (the coverage phase adds its boundary cases); no deadlines.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.support.inprocess import InProcessServer, start_inprocess
from tidings.beams import tokens
from tidings.channels import httpauth
from tidings.channels.signatures import hmac_hex
from tidings.console.auth import COOKIE
from tidings.web.openapi import DOCUMENT

pytestmark = pytest.mark.slow

# The console's event streams never end by themselves (a read would last the whole timeout): they are checked
# once each in test_console_streams instead.
schema = schemathesis.openapi.from_path(DOCUMENT).exclude(path_regex=r"^/console/api/.*/stream$")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, unsupported_method]
AUTH_PARAMS = {"auth_key", "auth_timestamp", "auth_version", "auth_signature", "body_md5"}
SIGNED_USER = "alice"


@dataclass
class Live:
    """What the hook needs of the server under test (set by the fixture, read by the hook)."""

    base_url: str = ""
    app_id: str = ""
    key: str = ""
    secret: str = ""
    instance_id: str = ""
    instance_secret: str = ""
    devices: list[tuple[str, str]] = field(default_factory=list)  # (platform, device id)
    publish_id: str = ""
    console_session: str = ""


LIVE = Live()


class ChannelsSigner(requests.auth.AuthBase):
    """Signs the request as the Pusher SDKs do, over the URL and body as prepared (the bytes sent)."""

    def __init__(self, key: str, secret: str) -> None:
        self.key, self.secret = key, secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        assert request.url is not None and request.method is not None
        parts = urlsplit(request.url)
        # Generated auth parameters (from the security scheme) make way for real ones.
        params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in AUTH_PARAMS]
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        auth = {"auth_key": self.key, "auth_timestamp": str(int(time.time())), "auth_version": httpauth.AUTH_VERSION}
        if body:
            auth["body_md5"] = hashlib.md5(body).hexdigest()
        # Signed with the generated parameters in, over their decoded values (what the server reads).
        to_sign = httpauth.string_to_sign(request.method, parts.path, [*params, *auth.items()])
        query = [*params, *auth.items(), ("auth_signature", hmac_hex(self.secret, to_sign))]
        request.url = urlunsplit(parts._replace(query=urlencode(query)))
        return request


def _pick(case: Any, name: str) -> bool:
    """Use the live value for this parameter in three cases out of four (stable for a given case)."""
    seen = repr((name, case.path_parameters, case.query, case.body)).encode(errors="surrogatepass")
    return zlib.crc32(seen) % 4 != 0


def _throwaway_device() -> tuple[str, str]:
    """A device of its own for a DELETE, so the live ones stay for the other operations."""
    answer = requests.post(f"{LIVE.base_url}/device_api/v1/instances/{LIVE.instance_id}/devices/fcm",
                           json={"token": f"fcm-throwaway-{time.monotonic_ns()}"}, timeout=30)
    answer.raise_for_status()
    return "fcm", answer.json()["id"]


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.operation.schema.raw_schema is not schema.raw_schema:
        return  # another schema's test
    path = case.operation.path
    params = case.path_parameters if case.path_parameters is not None else {}
    if "app_id" in params and _pick(case, "app_id"):
        params["app_id"] = LIVE.app_id
    if "instance_id" in params and _pick(case, "instance_id"):
        params["instance_id"] = LIVE.instance_id
    if "device_id" in params and _pick(case, "device_id"):
        if case.method == "DELETE" and path.endswith("{device_id}"):
            platform, device_id = _throwaway_device()
        else:
            which = zlib.crc32(repr(params).encode(errors="surrogatepass")) % len(LIVE.devices)
            platform, device_id = LIVE.devices[which]
        params.update(platform=platform, device_id=device_id)
    if "publish_id" in params and _pick(case, "publish_id"):
        params["publish_id"] = LIVE.publish_id
    if path.startswith(("/apps/", "/users/")):
        kwargs["auth"] = ChannelsSigner(LIVE.key, LIVE.secret)
    headers = case.headers if case.headers is not None else {}
    if path.startswith("/console/") and path != "/console/login":
        # The session cookie: a bearer token would count wrong guesses, and the login's fuzzed tokens already do.
        headers["Cookie"] = f"{COOKIE}={LIVE.console_session}"
    if path.startswith(("/publish_api/", "/customer_api/", "/user_api/", "/outbox_api/")):
        headers["Authorization"] = f"Bearer {LIVE.instance_secret}"
    elif path.endswith("/user"):
        token = tokens.issue(LIVE.instance_id, LIVE.instance_secret, SIGNED_USER, now=time.time())
        headers["Authorization"] = f"Bearer {token}"
    case.headers = headers
    if isinstance(case.body, dict) and "key" in case.body and path.startswith("/demo/") and _pick(case, "key"):
        case.body["key"] = LIVE.key
    if isinstance(case.body, dict) and "webhookUrl" in case.body:
        case.body["webhookUrl"] = "http://127.0.0.1:9/"  # no request to a generated host


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    srv = start_inprocess(tmp_path_factory.mktemp("openapi"), demo=True)
    try:
        inst = srv.stack.instance
        LIVE.base_url, LIVE.app_id, LIVE.key, LIVE.secret = srv.http_url, srv.app_id, srv.key, srv.secret
        LIVE.instance_id, LIVE.instance_secret = inst.id, inst.secret_key
        assert srv.stack.console is not None
        LIVE.console_session = srv.stack.console.auth.session()
        dev = f"{srv.http_url}/device_api/v1/instances/{inst.id}/devices"
        for platform, token in (("fcm", "fcm-token-for-openapi"), ("apns", "ab" * 32)):
            answer = requests.post(f"{dev}/{platform}", json={"token": token}, timeout=30)
            answer.raise_for_status()
            LIVE.devices.append((platform, answer.json()["id"]))
        answer = requests.post(
            f"{srv.http_url}/publish_api/v1/instances/{inst.id}/publishes/interests",
            json={"interests": ["news"], "fcm": {"notification": {"title": "hi"}}},
            headers={"Authorization": f"Bearer {inst.secret_key}"}, timeout=30,
        )
        answer.raise_for_status()
        LIVE.publish_id = answer.json()["publishId"]
        yield srv
    finally:
        srv.stop()


@schema.parametrize()
@hypothesis.settings(max_examples=30, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
def test_api(case: Any, live: InProcessServer) -> None:
    case.call_and_validate(base_url=LIVE.base_url, checks=CHECKS, timeout=30)


def test_the_signer_signs_what_the_server_verifies(live: InProcessServer) -> None:
    """The hook's signature is accepted (else every Channels case would only ever see 401)."""
    url = f"{LIVE.base_url}/apps/{LIVE.app_id}/events?extra=x%20y"
    body = b'{"name":"e","channel":"c","data":"d"}'
    signer = ChannelsSigner(LIVE.key, LIVE.secret)
    answer = requests.post(url, data=body, headers={"Content-Type": "application/json"}, auth=signer, timeout=30)
    assert answer.status_code == 200, answer.text
    answer = requests.get(f"{LIVE.base_url}/apps/{LIVE.app_id}/channels?auth_key=junk", auth=signer, timeout=30)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("scope", ["apps", "instances"])
def test_console_streams(live: InProcessServer, scope: str) -> None:
    """What the fuzzing leaves out: an open stream is text/event-stream, starts at once, and refusals are JSON."""
    scope_id = LIVE.app_id if scope == "apps" else LIVE.instance_id
    url = f"{LIVE.base_url}/console/api/{scope}/{scope_id}/stream"
    cookies = {COOKIE: LIVE.console_session}
    with requests.get(url, cookies=cookies, stream=True, timeout=30) as answer:
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "text/event-stream"
        assert next(answer.iter_content(None)).startswith(b"retry: ")
    refused = requests.get(url, timeout=30)
    assert (refused.status_code, sorted(refused.json())) == (401, ["error"])
    missing = requests.get(f"{LIVE.base_url}/console/api/{scope}/nope/stream", cookies=cookies, timeout=30)
    assert (missing.status_code, sorted(missing.json())) == (404, ["error"])

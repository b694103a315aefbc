"""The official Beams Python server SDK (PyPI `pusher-push-notifications` 2.0.2) against Tidings.

The SDK always speaks https (the scheme is hard-coded; `endpoint` is `host:port` only), so the server
runs with `--tls-cert/--tls-key` (a trustme CA) and the SDK's public `session` trusts that CA.
REQUESTS_CA_BUNDLE would not work: the SDK calls `session.send()` directly.

Checked: `generate_token` gives a Beams Token the device API accepts (PUT .../user), `publish_to_users`
and `publish_to_interests` return `{"publishId": "pubid-<uuid>"}`, `delete_user` succeeds and the
user's devices lose the user, and the SDK's error mapping (401 -> PusherAuthError, 404 ->
PusherMissingInstanceError, 422 -> PusherValidationError) works on Tidings' error bodies.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from pusher_push_notifications import (
    PusherAuthError,
    PusherMissingInstanceError,
    PusherValidationError,
    PushNotifications,
)
from requests.adapters import HTTPAdapter

from tests.compat.beams.conftest import BeamsHttp, BeamsInstance, describe
from tests.support.push_endpoint import PushService
from tests.support.server import RunningServer
from tests.support.tls import TlsFiles

pytestmark = [pytest.mark.compat, pytest.mark.slow]

SDK_TIMEOUT = 10
PUBLISH_BODY: dict[str, Any] = {
    "web": {"notification": {"title": "Hello", "body": "from the Python SDK"}, "data": {"n": 1}},
    "fcm": {"notification": {"title": "Hello", "body": "from the Python SDK"}},
    "apns": {"aps": {"alert": {"title": "Hello", "body": "from the Python SDK"}}},
}


class _TimeoutAdapter(HTTPAdapter):
    """The SDK sends without a timeout; a hung server must fail the test, not stall it."""

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = SDK_TIMEOUT
        return super().send(request, **kwargs)


def make_sdk(server: RunningServer, tls: TlsFiles, instance_id: str, secret: str) -> PushNotifications:
    client = PushNotifications(instance_id, secret, endpoint=f"{server.host}:{server.port}")
    client.session.verify = str(tls.ca)
    # Test hygiene only: no proxy from the environment, and a timeout. The SDK's request code is untouched.
    client.session.proxies = {}
    client.session.trust_env = False
    client.session.mount("https://", _TimeoutAdapter())
    return client


@pytest.fixture(scope="module")
def tls_api(beams_tls_server: RunningServer, beams_instance: BeamsInstance, tls_files: TlsFiles) -> BeamsHttp:
    return BeamsHttp(f"https://{beams_tls_server.host}:{beams_tls_server.port}", beams_instance,
                     verify=str(tls_files.ca))


@pytest.fixture
def sdk(beams_tls_server: RunningServer, beams_instance: BeamsInstance, tls_files: TlsFiles) -> PushNotifications:
    return make_sdk(beams_tls_server, tls_files, beams_instance.id, beams_instance.secret)


@pytest.fixture
def user_id() -> str:
    return f"py-user-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def web_device(tls_api: BeamsHttp, push_service: PushService) -> Iterator[str]:
    device_id = tls_api.register_web(push_service.new_subscription())
    yield device_id
    tls_api.delete_device(device_id)


def assert_publish_id(body: object) -> None:
    assert isinstance(body, dict) and set(body) == {"publishId"}, body
    publish_id = body["publishId"]
    assert isinstance(publish_id, str) and publish_id.startswith("pubid-"), body
    uuid.UUID(publish_id.removeprefix("pubid-"))  # real ids: pubid-b31f2fcf-92dc-4f0f-b97d-6fdd82b7ac0f


def assert_user_gone(api: BeamsHttp, device_id: str) -> None:
    """After delete_user the user's devices are gone: the SDK docstring says delete_user removes "the user ...
    (and all of their devices)", as Pusher's customer API documentation does."""
    r = api.get_device(device_id)
    assert r.status_code == 404, f"device still there after delete_user{describe(r)}"


def test_generate_token_is_accepted_by_the_device_api(
    sdk: PushNotifications, tls_api: BeamsHttp, web_device: str, user_id: str, beams_instance: BeamsInstance
) -> None:
    generated = sdk.generate_token(user_id)
    assert set(generated) == {"token"}, generated
    claims = jwt.decode(generated["token"], options={"verify_signature": False})
    assert claims["sub"] == user_id and claims["iss"] == beams_instance.issuer, claims

    before = tls_api.device(web_device)
    assert before["id"] == web_device and not before.get("userId"), before
    r = tls_api.put_user(web_device, generated["token"])
    assert r.status_code == 200, describe(r)
    after = tls_api.device(web_device)
    assert after["id"] == web_device and after["userId"] == user_id, after

    # The web SDK repeats PUT user on every setUserId with the same id: that must keep succeeding.
    r = tls_api.put_user(web_device, sdk.generate_token(user_id)["token"])
    assert r.status_code == 200, describe(r)
    assert tls_api.device(web_device)["userId"] == user_id


def test_publish_to_users(sdk: PushNotifications, tls_api: BeamsHttp, web_device: str, user_id: str) -> None:
    tls_api.set_user(web_device, sdk.generate_token(user_id)["token"])
    assert_publish_id(sdk.publish_to_users([user_id], PUBLISH_BODY))
    # Users without devices are not an error: the publish is accepted all the same.
    assert_publish_id(sdk.publish_to_users([f"{user_id}-nobody", "another-nobody"], {"web": PUBLISH_BODY["web"]}))


def test_publish_to_interests(sdk: PushNotifications, tls_api: BeamsHttp, web_device: str) -> None:
    interest = f"py-donuts-{uuid.uuid4().hex[:6]}"
    tls_api.set_interests(web_device, [interest])
    first = sdk.publish_to_interests([interest], PUBLISH_BODY)
    assert_publish_id(first)
    second = sdk.publish_to_interests([interest, "nobody-here,;=@.-_"], {"apns": PUBLISH_BODY["apns"]})
    assert_publish_id(second)
    assert first["publishId"] != second["publishId"]


def test_delete_user(sdk: PushNotifications, tls_api: BeamsHttp, push_service: PushService, user_id: str) -> None:
    devices = [tls_api.register_web(push_service.new_subscription()) for _ in range(2)]
    bystander = tls_api.register_web(push_service.new_subscription())
    for device_id in devices:
        tls_api.set_user(device_id, sdk.generate_token(user_id)["token"])
    tls_api.set_user(bystander, sdk.generate_token(f"{user_id}-other")["token"])

    assert sdk.delete_user(user_id) is None  # 200 with an empty body
    for device_id in devices:
        assert_user_gone(tls_api, device_id)
    assert tls_api.device(bystander)["userId"] == f"{user_id}-other"

    # Deleting a user that has no devices (or no longer exists) succeeds too.
    assert sdk.delete_user(user_id) is None


def test_delete_user_with_slash_space_and_non_ascii(
    sdk: PushNotifications, tls_api: BeamsHttp, web_device: str
) -> None:
    # The SDK quotes the id with urllib.parse.quote, which leaves '/' unescaped: "u 1/é" -> /users/u%201/%C3%A9
    odd = f"u {uuid.uuid4().hex[:4]}/é"
    tls_api.set_user(web_device, sdk.generate_token(odd)["token"])
    assert tls_api.device(web_device)["userId"] == odd
    assert sdk.delete_user(odd) is None
    assert_user_gone(tls_api, web_device)


def test_error_mapping(
    sdk: PushNotifications, beams_tls_server: RunningServer, tls_files: TlsFiles, beams_instance: BeamsInstance
) -> None:
    wrong_secret = make_sdk(beams_tls_server, tls_files, beams_instance.id, beams_instance.secret + "X")
    with pytest.raises(PusherAuthError) as auth_error:
        wrong_secret.publish_to_interests(["donuts"], PUBLISH_BODY)
    assert "Unknown error" not in str(auth_error.value), "401 body lacks `error`"
    assert "no description" not in str(auth_error.value), "401 body lacks `description`"
    with pytest.raises(PusherAuthError):
        wrong_secret.delete_user("someone")

    unknown = make_sdk(beams_tls_server, tls_files, str(uuid.uuid4()), beams_instance.secret)
    with pytest.raises(PusherMissingInstanceError) as missing:
        unknown.publish_to_users(["someone"], PUBLISH_BODY)
    assert "Unknown error" not in str(missing.value) and "no description" not in str(missing.value), missing.value

    with pytest.raises(PusherValidationError) as invalid:
        sdk.publish_to_interests(["donuts"], {"web": {"notification": {"title": "x"}, "data": {"pusher": 1}}})
    assert "Unknown error" not in str(invalid.value) and "no description" not in str(invalid.value), invalid.value


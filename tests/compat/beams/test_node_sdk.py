"""The official Beams Node server SDK (@pusher/push-notifications-server 1.2.7) against Tidings over plain HTTP.

`new PushNotifications({instanceId, secretKey, endpoint: '127.0.0.1', port})`: giving `endpoint` switches
the SDK to http. The script tests/compat/node/beams_server_sdk.mjs makes the calls and prints what it saw;
assertions live here. Checked: generateToken -> accepted by PUT .../user; publishToUsers/publishToInterests
resolve to {publishId: "pubid-<uuid>"}; deleteUser (DELETE /user_api/v1/...) resolves to undefined, i.e.
a 200 with an empty body; error replies parse into the SDK's "<status> <error> - <description>" message
(the SDK crashes on an empty error body and rejects with "Could not parse response body" when a field
is missing).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import jwt
import pytest

from tests.compat.beams.conftest import BeamsHttp, BeamsInstance
from tests.compat.nodejs import NodeScript
from tests.support.push_endpoint import PushService
from tests.support.server import RunningServer

pytestmark = [pytest.mark.compat, pytest.mark.slow]

PUBLISH_ID = re.compile(r"^pubid-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def run_script(server: RunningServer, instance: BeamsInstance, **env: str) -> NodeScript:
    return NodeScript(
        "beams_server_sdk.mjs",
        {
            "BEAMS_HOST": server.host,
            "BEAMS_PORT": str(server.port),
            "BEAMS_INSTANCE_ID": instance.id,
            "BEAMS_SECRET_KEY": instance.secret,
            **env,
        },
        timeout_ms=15_000,
    )


def no_user(reply: dict[str, Any]) -> bool:
    """After deleteUser the user's devices are gone (Pusher deletes the user and all their devices)."""
    return bool(reply["status"] == 404)


def test_node_server_sdk(
    beams_node_modules: None, beams_server: RunningServer, beams_instance: BeamsInstance, api: BeamsHttp,
    push_service: PushService,
) -> None:
    user = f"node-user-{uuid.uuid4().hex[:8]}"
    odd_user = f"node u{uuid.uuid4().hex[:4]}/é+x"
    interest = f"node-donuts-{uuid.uuid4().hex[:6]}"
    device = api.register_web(push_service.new_subscription())
    device2 = api.register_web(push_service.new_subscription())
    api.set_interests(device, [interest])

    script = run_script(
        beams_server, beams_instance,
        BEAMS_DEVICE_ID=device, BEAMS_DEVICE_ID_2=device2, BEAMS_USER_ID=user, BEAMS_ODD_USER_ID=odd_user,
        BEAMS_INTEREST=interest, BEAMS_UNKNOWN_INSTANCE_ID=str(uuid.uuid4()),
    )
    try:
        script.finish(timeout=20)
    finally:
        script.kill()
    t = script.transcript()

    token = script.one("token")
    assert token["keys"] == ["token"], t
    claims = jwt.decode(token["token"], beams_instance.secret, algorithms=["HS256"], issuer=beams_instance.issuer)
    assert claims["sub"] == user, claims

    set_user = script.one("set_user")
    assert set_user["status"] == 200, t
    device_after = script.one("device_after_set_user")
    assert device_after["status"] == 200 and device_after["json"]["userId"] == user, t

    for name in ("publish_to_users", "publish_to_interests"):
        result = script.one(name)
        assert result["ok"], f"{name} rejected\n{t}"
        assert set(result["value"]) == {"publishId"} and PUBLISH_ID.match(result["value"]["publishId"]), t
    assert script.one("publish_to_users")["value"] != script.one("publish_to_interests")["value"], t

    deleted = script.one("delete_user")
    assert deleted["ok"] and deleted["undefined"], f"deleteUser must resolve to undefined (200, empty body)\n{t}"
    assert no_user(script.one("device_after_delete_user")), t

    assert script.one("set_odd_user")["status"] == 200, t
    assert script.one("device2_after_set_user")["json"]["userId"] == odd_user, t
    deleted = script.one("delete_odd_user")
    assert deleted["ok"] and deleted["undefined"], t
    assert no_user(script.one("device2_after_delete_user")), f"deleteUser({odd_user!r}) left the user in place\n{t}"

    # Error replies: the SDK formats "<status> <error> - <description>" only when both fields are present.
    wrong = script.one("wrong_secret")
    assert not wrong["ok"] and re.match(r"^401 \S.* - \S", wrong["message"]), t
    unknown = script.one("unknown_instance")
    assert not unknown["ok"] and re.match(r"^404 \S.* - \S", unknown["message"]), t
    unknown_delete = script.one("unknown_instance_delete")
    assert not unknown_delete["ok"] and re.match(r"^404 \S.* - \S", unknown_delete["message"]), t
    invalid = script.one("invalid_publish")
    assert not invalid["ok"] and re.match(r"^422 \S.* - \S", invalid["message"]), t

"""Per-app switches set with the `tidings apps` CLI while the server runs: disabled, quota, subscription_count.

The server re-reads apps on every lookup here (TIDINGS_APP_CACHE_TTL=0), so CLI changes apply at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.inprocess import start_inprocess
from tests.support.server import RunningServer
from tests.support.ws_client import WsClient, data_of
from tests.web.channels.conftest import CliApp, api_for, assert_error_body, cli, create_app, uniq


@dataclass
class Apps:
    server: RunningServer
    to_disable: CliApp
    quota: CliApp
    counted: CliApp


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    srv = start_inprocess(tmp_path_factory.mktemp("apps"), env={"TIDINGS_APP_CACHE_TTL": "0"})
    try:
        made = [create_app(srv, *flags) for flags in [(), ("--max-connections", "1"), ("--subscription-count",)]]
        yield Apps(srv, *made)
    finally:
        srv.stop()


async def test_disabled_app_is_refused_on_socket_4003_and_http_403(apps: Apps) -> None:
    srv, app = apps.server, apps.to_disable
    async with await WsClient.connect(srv.ws_url(key=app.key)) as before:
        await before.ping()
    api = api_for(srv, app.id, app.key, app.secret)
    assert api.trigger_ok("ch", "ev", "{}") == {}

    assert f"app {app.id} disabled" in cli(srv, "apps", "disable", app.id)

    client = await WsClient.open(srv.ws_url(key=app.key))
    await client.expect_error(4003)
    assert await client.expect_close(4003) == []
    assert_error_body(api.trigger("ch", "ev", "{}"), 403)
    assert_error_body(api.get("/apps/{app}/channels"), 403)
    # The default app on the same server is unaffected.
    async with await WsClient.connect(srv.ws_url()) as other:
        await other.ping()


async def test_second_connection_over_quota_refused_with_4004(apps: Apps) -> None:
    srv, app = apps.server, apps.quota
    first = await WsClient.connect(srv.ws_url(key=app.key))
    second = await WsClient.open(srv.ws_url(key=app.key))
    await second.expect_error(4004)
    assert await second.expect_close(4004) == []
    await first.ping()  # the first one is untouched
    await first.close()
    # Once the first is gone there is room again (the server may need a moment to see the close).
    for _ in range(50):
        third = await WsClient.open(srv.ws_url(key=app.key))
        frame = await third.recv()
        if frame["event"] == "pusher:connection_established":
            await third.close()
            break
        assert frame["event"] == "pusher:error" and frame["data"]["code"] == 4004, frame
        await third.expect_close(4004)
    else:
        raise AssertionError("quota slot never freed after the first connection closed")


def count_of(frame: dict[str, object]) -> int:
    data = data_of(frame)
    assert set(data) == {"subscription_count"}, frame
    return int(data["subscription_count"])


async def test_subscription_count_sent_when_enabled(apps: Apps) -> None:
    srv, app = apps.server, apps.counted
    channel = uniq("counted-")
    a = await WsClient.connect(srv.ws_url(key=app.key))
    b = await WsClient.connect(srv.ws_url(key=app.key))
    try:
        await a.subscribe(channel)
        frame = await a.expect("pusher_internal:subscription_count", channel=channel)
        assert set(frame) == {"event", "channel", "data"}, frame
        assert json.loads(frame["data"]) == {"subscription_count": 1}

        await b.subscribe(channel)
        assert count_of(await b.expect("pusher_internal:subscription_count", channel=channel)) == 2
        assert count_of(await a.expect("pusher_internal:subscription_count", channel=channel)) == 2

        await b.unsubscribe(channel)
        assert count_of(await a.expect("pusher_internal:subscription_count", channel=channel)) == 1
        await b.expect_nothing()

        # Presence channels never get it (they have member events instead).
        presence = uniq("presence-counted-")
        channel_data = json.dumps({"user_id": "u1"})
        await a.subscribe(presence, auth=a.presence_auth(app.key, app.secret, presence, channel_data),
                          channel_data=channel_data)
        await a.expect_nothing()
    finally:
        await a.close()
        await b.close()


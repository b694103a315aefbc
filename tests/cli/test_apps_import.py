"""`tidings apps import FILE`: soketi's app array and config file (tests/fixtures/soketi, from soketi's documentation)
become Tidings apps with their limits and webhooks, all or nothing; the imported credentials then work with the
official Pusher server SDK against a running server."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pusher
import pytest
from click.testing import CliRunner, Result

from tests.support.inprocess import start_inprocess
from tidings.channels.apps import App
from tidings.cli import main
from tidings.storage import open_storage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "soketi"


@pytest.fixture(autouse=True)
def _no_tidings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TIDINGS_"):
            monkeypatch.delenv(name)


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["apps", "--data-dir", str(data_dir), *args])


def stored(data_dir: Path) -> dict[str, App]:
    async def read() -> dict[str, App]:
        storage = await open_storage(f"sqlite+aiosqlite:///{data_dir / 'tidings.db'}")
        try:
            return {app.id: app for app in await storage.apps.list()}
        finally:
            await storage.close()

    return asyncio.run(read())


def test_the_documented_config_file(tmp_path: Path) -> None:
    result = run(tmp_path, "import", str(FIXTURES / "docs-config.json"))
    assert result.exit_code == 0, result.output
    assert "imported 1 app(s)" in result.output
    app = stored(tmp_path)["some-id"]
    assert (app.key, app.secret, app.enabled, app.enable_client_events) == ("some-key", "some-secret", True, False)
    assert [(h.url, h.event_types) for h in app.webhooks] == [("https://...", ("channel_occupied",))]
    assert app.limits.max_connections is None and app.limits.client_events_per_second == 0  # soketi: no limit


def test_every_documented_field_of_an_app_array(tmp_path: Path) -> None:
    result = run(tmp_path, "import", str(FIXTURES / "docs-apps.json"))
    assert result.exit_code == 0, result.output
    apps = stored(tmp_path)
    first = apps["app-id"]
    assert first.enable_client_events and first.enabled and not first.enable_user_authentication
    limits = first.limits
    assert (limits.max_connections, limits.client_events_per_second, limits.max_presence_members) == (1000, 50, 150)
    assert (limits.max_presence_user_info_bytes, limits.max_event_data_bytes) == (2048, 102_400)
    assert (limits.max_channel_name_length, limits.max_channels_per_event, limits.max_event_name_length,
            limits.max_batch_size) == (100, 100, 200, 10)
    filtered, with_headers = first.webhooks
    assert (filtered.channel_prefix, filtered.channel_suffix) == ("beta-", "-app")
    assert filtered.wants("channel_occupied", "beta-chat-room-app") and not filtered.wants("channel_occupied",
                                                                                          "beta-chat-room")
    assert with_headers.event_types == ("member_added", "member_removed")
    assert with_headers.headers == {"X-Custom-Header": "Custom Header", "X-Version": "Custom Header"}
    # What Tidings cannot take is said, not silently dropped.
    assert "maxBackendEventsPerSecond not imported" in result.output
    assert "maxReadRequestsPerSecond not imported" in result.output
    assert "webhooks[2] not imported: an AWS Lambda webhook" in result.output

    # The other spellings soketi's SQL and DynamoDB app managers use, numbers as strings, webhooks as JSON text.
    second = apps["123456"]
    assert (second.key, second.secret, second.enabled, second.enable_client_events) == (
        "second-key", "second-secret", False, False)
    assert second.limits.max_connections is None and second.limits.client_events_per_second == 0
    assert [(h.url, h.event_types) for h in second.webhooks] == [
        ("http://127.0.0.1:9000/soketi", ("channel_vacated", "client_event"))]


def test_all_or_nothing_and_replace(tmp_path: Path) -> None:
    assert run(tmp_path, "import", str(FIXTURES / "docs-apps.json")).exit_code == 0
    again = run(tmp_path, "import", str(FIXTURES / "docs-apps.json"))
    assert again.exit_code == 1 and "exist already" in again.output
    changed = tmp_path / "changed.json"
    changed.write_text((FIXTURES / "docs-apps.json").read_text().replace('"maxConnections": 1000',
                                                                          '"maxConnections": 5'))
    dry = run(tmp_path, "import", "--replace", "--dry-run", str(changed))
    assert dry.exit_code == 0 and "would import 2 app(s)" in dry.output
    assert stored(tmp_path)["app-id"].limits.max_connections == 1000
    replaced = run(tmp_path, "import", "--replace", str(changed))
    assert replaced.exit_code == 0 and "app-id (replaced)" in replaced.output
    assert stored(tmp_path)["app-id"].limits.max_connections == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"id": "a", "key": "k", "secret": "s", "webhooks": [{"url": "https://x", "event_types": ["nope"]}]},'
         ' {"id": "b", "key": "k2", "secret": "s"}]', "unknown webhook event types"),
        ('[{"id": "a", "key": "k", "secret": "s", "maxConnections": "many"}]', "maxConnections: not a number"),
        ('[{"id": "a", "key": "k", "secret": "s"}, {"id": "a", "key": "k2", "secret": "s"}]', "appears twice"),
        ('{"debug": true}', "no apps found"),
    ],
)
def test_a_file_with_a_problem_imports_nothing(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "apps.json"
    path.write_text(content)
    result = run(tmp_path / "data", "import", str(path))
    assert result.exit_code == 1 and message in result.output, result.output
    assert not (tmp_path / "data" / "tidings.db").exists() or stored(tmp_path / "data") == {}


def test_imported_credentials_work_with_the_pusher_sdk(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run(data, "import", str(FIXTURES / "docs-apps.json")).exit_code == 0
    server = start_inprocess(data, default_app=False, app_cache_ttl=0)
    try:
        # The Python SDK takes numeric app ids only: the second app (imported disabled, as soketi had it).
        client = pusher.Pusher(app_id="123456", key="second-key", secret="second-secret", host=server.host,
                               port=server.port, ssl=False)
        with pytest.raises(pusher.errors.PusherForbidden):
            client.trigger("my-channel", "greeting", {})
        assert run(data, "enable", "123456").exit_code == 0
        assert client.trigger("my-channel", "greeting", {"hello": "world"}) == {}
        wrong = pusher.Pusher(app_id="123456", key="second-key", secret="not-the-secret", host=server.host,
                              port=server.port, ssl=False)
        with pytest.raises(pusher.errors.PusherBadAuth):
            wrong.trigger("my-channel", "greeting", {})
    finally:
        server.stop()
    shutil.rmtree(data)

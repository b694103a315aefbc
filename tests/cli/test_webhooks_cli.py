"""`tidings apps webhooks add|list|remove`, through the real `tidings` command group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tidings.cli import main
from tidings.cli.common import shown_url


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["apps", "--data-dir", str(tmp_path / "data"), *args])
    return result.exit_code, result.output


def test_add_list_replace_remove(tmp_path: Path) -> None:
    assert run(tmp_path, "create", "--id", "42", "--webhook-batching")[0] == 0
    code, _ = run(tmp_path, "webhooks", "add", "42", "http://127.0.0.1:9/hook", "--event", "member_added",
                  "--event", "member_removed", "--header", "X-Token: abc", "--channel-prefix", "presence-")
    assert code == 0
    code, out = run(tmp_path, "webhooks", "list", "42", "--json", "--show-secrets")
    hooks = json.loads(out)
    assert hooks == [{
        "url": "http://127.0.0.1:9/hook", "event_types": ["member_added", "member_removed"],
        "channel_prefix": "presence-", "channel_suffix": None, "headers": {"X-Token": "abc"},
    }]
    # Adding the same URL again replaces it.
    assert run(tmp_path, "webhooks", "add", "42", "http://127.0.0.1:9/hook")[0] == 0
    hooks = json.loads(run(tmp_path, "webhooks", "list", "42", "--json")[1])
    assert [h["event_types"] for h in hooks] == [[]]
    shown = json.loads(run(tmp_path, "show", "42", "--json")[1])
    assert shown["webhook_batching"] is True and len(shown["webhooks"]) == 1
    assert run(tmp_path, "webhooks", "remove", "42", "http://127.0.0.1:9/hook")[0] == 0
    assert json.loads(run(tmp_path, "webhooks", "list", "42", "--json")[1]) == []


def test_bad_input_changes_nothing(tmp_path: Path) -> None:
    assert run(tmp_path, "create", "--id", "42")[0] == 0
    assert run(tmp_path, "webhooks", "add", "42", "http://ok/1")[0] == 0
    for args in (
        ["webhooks", "add", "42", "ftp://nope"],
        ["webhooks", "add", "42", "http://x", "--header", "no-colon"],
        ["webhooks", "add", "42", "http://x", "--event", "made_up"],
        ["webhooks", "add", "9", "http://x"],
        ["webhooks", "remove", "42", "http://not-there"],
    ):
        code, out = run(tmp_path, *args)
        assert code != 0, args
    hooks = json.loads(run(tmp_path, "webhooks", "list", "42", "--json")[1])
    assert [h["url"] for h in hooks] == ["http://ok/1"]


# -- credentials of webhook targets: hidden unless --show-secrets ------------------------------------------

SECRET_URL = "https://hookuser:hookpass@hooks.example.com/pusher?api_key=KEY123&channel=all"
SHOWN_URL = "https://***@hooks.example.com/pusher?api_key=***&channel=all"


@pytest.fixture
def app_with_secret_hook(tmp_path: Path) -> Path:
    assert run(tmp_path, "create", "--id", "42", "--secret", "app-secret-1")[0] == 0
    code, out = run(tmp_path, "webhooks", "add", "42", SECRET_URL, "--header", "Authorization: Bearer HDR456")
    assert code == 0
    assert f"webhook {SHOWN_URL} added to app 42" in out  # not echoed back with its credentials
    return tmp_path


def assert_hidden(out: str) -> None:
    for secret in ("hookpass", "hookuser", "KEY123", "HDR456"):
        assert secret not in out, out


@pytest.mark.parametrize("command", [
    ["list", "--json"],
    ["show", "42", "--json"],
    ["show", "42"],
    ["webhooks", "list", "42", "--json"],
    ["webhooks", "list", "42"],
])
def test_webhook_credentials_are_hidden(app_with_secret_hook: Path, command: list[str]) -> None:
    code, out = run(app_with_secret_hook, *command)
    assert code == 0
    assert_hidden(out)
    assert SHOWN_URL in out  # which target it is stays readable
    if "--json" in command:
        data = json.loads(out)
        hooks = {"list": lambda: data[0]["webhooks"], "show": lambda: data["webhooks"]}.get(command[0], lambda: data)()
        assert hooks[0]["headers"] == {"Authorization": "***"}


@pytest.mark.parametrize("command", [
    ["list", "--json"],
    ["show", "42", "--json"],
    ["show", "42"],
    ["webhooks", "list", "42", "--json"],
    ["webhooks", "list", "42"],
])
def test_show_secrets_shows_them(app_with_secret_hook: Path, command: list[str]) -> None:
    code, out = run(app_with_secret_hook, *command, "--show-secrets")
    assert code == 0
    assert SECRET_URL in out
    if "--json" in command:
        assert "Bearer HDR456" in out


def test_the_app_secret_is_shown_by_show_only(app_with_secret_hook: Path) -> None:
    assert "app-secret-1" in run(app_with_secret_hook, "show", "42")[1]
    assert json.loads(run(app_with_secret_hook, "show", "42", "--json")[1])["secret"] == "app-secret-1"
    assert "app-secret-1" not in run(app_with_secret_hook, "list", "--json", "--show-secrets")[1]


def test_removing_by_url_does_not_echo_its_credentials(app_with_secret_hook: Path) -> None:
    code, out = run(app_with_secret_hook, "webhooks", "remove", "42", SECRET_URL)
    assert code == 0 and f"webhook {SHOWN_URL} removed from app 42" in out
    code, out = run(app_with_secret_hook, "webhooks", "remove", "42", SECRET_URL)
    assert code != 0
    assert_hidden(out)


@pytest.mark.parametrize(("url", "shown"), [
    ("https://hooks.example.com/x", "https://hooks.example.com/x"),
    ("https://hooks.example.com/x?channel=a&page=2", "https://hooks.example.com/x?channel=a&page=2"),
    ("https://u:p@hooks.example.com:8443/x", "https://***@hooks.example.com:8443/x"),
    ("https://token@hooks.example.com/x", "https://***@hooks.example.com/x"),
    ("https://h.example/x?token=t&X-Amz-Signature=s&access_token=a&sig=1", "https://h.example/x?token=***"
     "&X-Amz-Signature=***&access_token=***&sig=***"),
    ("https://h.example/x?Api%5FKey=abc", "https://h.example/x?Api%5FKey=***"),
    ("https://h.example/x?password=", "https://h.example/x?password="),
    ("https://h.example/x#frag-token", "https://h.example/x#***"),
    ("http://[::1/x", "***"),
])
def test_shown_url(url: str, shown: str) -> None:
    assert shown_url(url) == shown

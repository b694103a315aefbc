"""`tidings apps webhooks add|list|remove`, through the real `tidings` command group."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tidings.cli import main


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["apps", "--data-dir", str(tmp_path / "data"), *args])
    return result.exit_code, result.output


def test_add_list_replace_remove(tmp_path: Path) -> None:
    assert run(tmp_path, "create", "--id", "42", "--webhook-batching")[0] == 0
    code, _ = run(tmp_path, "webhooks", "add", "42", "http://127.0.0.1:9/hook", "--event", "member_added",
                  "--event", "member_removed", "--header", "X-Token: abc", "--channel-prefix", "presence-")
    assert code == 0
    code, out = run(tmp_path, "webhooks", "list", "42", "--json")
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

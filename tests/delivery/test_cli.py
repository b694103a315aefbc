"""`tidings publish` stores a publish as the API would; `tidings publishes show` reads its status back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tidings.cli import main
from tidings.cli.publishes import notification_body
from tidings.storage import open_storage

IID = "0b7f6c8e-1d2a-4c3b-9e8f-112233445566"


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(tmp_path / "data")])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


@pytest.fixture
def instance(tmp_path: Path) -> str:
    args = ["instances", "--data-dir", str(tmp_path / "data"), "create", "--id", IID]  # a group's own option
    assert CliRunner().invoke(main, args).exit_code == 0
    return IID


def stored(tmp_path: Path, publish_id: str) -> tuple[str, dict[str, object]]:
    async def read() -> tuple[str, dict[str, object]]:
        storage = await open_storage(f"sqlite:///{tmp_path / 'data' / 'tidings.db'}")
        try:
            found = await storage.publishes.get(IID, publish_id)
            assert found is not None
            return found.kind, {"targets": list(found.targets), **found.payload}
        finally:
            await storage.close()

    return asyncio.run(read())


def test_notification_body_follows_each_platforms_shape() -> None:
    assert notification_body("users", ["alice"], "T", "B", ["web", "apns", "fcm"], {"url": "/x"}) == {
        "users": ["alice"],
        "web": {"notification": {"title": "T", "body": "B"}, "data": {"url": "/x"}},
        "apns": {"aps": {"alert": {"title": "T", "body": "B"}}, "data": {"url": "/x"}},
        "fcm": {"notification": {"title": "T", "body": "B"}, "data": {"url": "/x"}},
    }


def test_publish_to_users_is_queued_and_shown(tmp_path: Path, instance: str) -> None:
    code, out = run(tmp_path, "publish", "--users", "alice, bob,alice", "--title", "Hi", "--body", "there",
                    "--platform", "apns")
    assert code == 0, out
    publish_id = out.strip()
    assert publish_id.startswith("pubid-")
    assert stored(tmp_path, publish_id) == (
        "users", {"targets": ["alice", "bob"], "apns": {"aps": {"alert": {"title": "Hi", "body": "there"}}}}
    )

    code, out = run(tmp_path, "publishes", "show", publish_id, "--json")
    assert code == 0, out
    shown = json.loads(out)
    assert shown["status"] == "queued" and shown["kind"] == "users" and shown["targets"] == ["alice", "bob"]
    assert shown["devices"] == {"sent": 0, "failed": 0, "removed": 0, "skipped": 0}
    assert shown["pending"] == 0  # not expanded yet: nothing targeted so far
    assert shown["startedAt"] is None and shown["createdAt"].endswith("Z")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--title", "t", "--body", "b"), "exactly one of --users and --interests"),
        (("--users", "a", "--interests", "b", "--title", "t", "--body", "b"), "exactly one of"),
        (("--interests", "bad name!", "--title", "t", "--body", "b"), "not a valid interest name"),
        (("--interests", "news", "--title", "t", "--body", "b", "--platform", "sms"), "--platform takes"),
        (("--interests", "news", "--title", "t", "--body", "b", "--data", "[1]"), "must be a JSON object"),
        (("--interests", "news", "--title", "t", "--body", "b", "--data", "{"), "--data is not JSON"),
        (("--interests", "news", "--title", "t", "--body", "b", "--instance", "nope"), "no instance with id nope"),
    ],
)
def test_publish_refusals_are_one_line_errors(tmp_path: Path, instance: str, args: tuple[str, ...],
                                              message: str) -> None:
    code, out = run(tmp_path, "publish", *args)
    assert code == 1 and message in out and out.startswith("tidings: ")


def test_show_of_an_unknown_publish_fails(tmp_path: Path, instance: str) -> None:
    code, out = run(tmp_path, "publishes", "show", "pubid-nope")
    assert code == 1 and "no publish pubid-nope" in out


def test_publish_without_any_instance_says_how_to_make_one(tmp_path: Path) -> None:
    code, out = run(tmp_path, "publish", "--interests", "news", "--title", "t", "--body", "b")
    assert code == 1 and "tidings instances create" in out

"""`tidings apps ...` as an admin uses it, on SQLite (--data-dir) and PostgreSQL (--database-url)."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.storage.postgres import temporary_database
from tests.support.server import tidings_cli
from tidings.cli.apps import apps
from tidings.storage import open_storage
from tidings.storage.schema import apps as apps_table


@pytest.fixture(autouse=True)
def _no_tidings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TIDINGS_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with temporary_database("tidings_cli") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """The global options that pick an empty database."""
    if request.param == "sqlite":
        return ["--data-dir", str(tmp_path / "data")]
    url = str(request.getfixturevalue("pg_url"))
    asyncio.run(_empty(url))  # a fresh database per test costs too much; an empty table will do
    return ["--database-url", url]


async def _empty(url: str) -> None:
    storage = await open_storage(url)
    try:
        await storage.migrate()
        async with storage.engine.begin() as conn:
            await conn.execute(apps_table.delete())
    finally:
        await storage.close()


def run(target: list[str], *args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(apps, [*target, *args])
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 1, result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result


def show(target: list[str], app_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run(target, "show", app_id, "--json").stdout)
    return data


def created_id(stdout: str) -> str:
    match = re.search(r"created app (\S+)", stdout)
    assert match, stdout
    return match.group(1)


def test_create_then_list_show_disable_enable_update(target: list[str]) -> None:
    app_id = created_id(run(target, "create", "--name", "chat", "--client-events", "--max-connections", "50").stdout)
    app = show(target, app_id)
    assert re.fullmatch(r"[1-9][0-9]{6}", app_id)
    assert re.fullmatch(r"[0-9a-f]{20}", app["key"]) and re.fullmatch(r"[0-9a-f]{20}", app["secret"])
    assert app["name"] == "chat" and app["enabled"] and app["enable_client_events"]
    assert app["limits"]["max_connections"] == 50

    table = run(target, "list").stdout
    assert table.splitlines()[0].split() == ["ID", "KEY", "NAME", "ENABLED", "CLIENT", "EVENTS", "USER", "AUTH"]
    assert table.splitlines()[1].split() == [app_id, app["key"], "chat", "yes", "yes", "no"]
    assert app["secret"] not in table
    listed = json.loads(run(target, "list", "--json").stdout)
    assert [a["id"] for a in listed] == [app_id] and "secret" not in listed[0]

    text = run(target, "show", app_id).stdout
    assert re.search(rf"^secret\s+{app['secret']}$", text, re.M)
    assert re.search(r"^  max_connections\s+50$", text, re.M)
    assert re.search(r"^client events\s+yes$", text, re.M)

    assert run(target, "disable", app_id).stdout.strip() == f"app {app_id} disabled"
    assert show(target, app_id)["enabled"] is False
    assert run(target, "enable", app_id).stdout.strip() == f"app {app_id} enabled"
    assert show(target, app_id)["enabled"] is True

    run(target, "update", app_id, "--name", "renamed", "--no-client-events", "--user-authentication",
        "--subscription-count", "--secret", "rotated", "--limit", "max_batch_size=20",
        "--limit", "max_connections=none")
    assert show(target, app_id) == {
        **app, "name": "renamed", "secret": "rotated", "enable_client_events": False,
        "enable_user_authentication": True, "enable_subscription_count": True,
        "limits": {**app["limits"], "max_batch_size": 20, "max_connections": None},
    }


def test_channels_per_connection_limit_is_set_shown_and_lifted(target: list[str]) -> None:
    app_id = created_id(run(target, "create").stdout)
    assert show(target, app_id)["limits"]["max_channels_per_connection"] == 1000

    run(target, "update", app_id, "--limit", "max_channels_per_connection=50")
    assert show(target, app_id)["limits"]["max_channels_per_connection"] == 50
    assert re.search(r"^  max_channels_per_connection\s+50$", run(target, "show", app_id).stdout, re.M)

    run(target, "update", app_id, "--limit", "max_channels_per_connection=none")
    assert show(target, app_id)["limits"]["max_channels_per_connection"] is None
    assert re.search(r"^  max_channels_per_connection\s+unlimited$", run(target, "show", app_id).stdout, re.M)

    failed = run(target, "update", app_id, "--limit", "max_channels_per_connection=0", ok=False)
    assert failed.stderr.startswith("tidings: invalid value: limits.max_channels_per_connection: Input should be "
                                    "greater than or equal to 1")


def test_create_with_given_credentials_and_refuse_a_taken_key(target: list[str]) -> None:
    run(target, "create", "--id", "123456", "--key", "my-key", "--secret", "my-secret")
    assert show(target, "123456")["key"] == "my-key"
    assert "my-secret" not in run(target, "list").stdout

    failed = run(target, "create", "--key", "my-key", ok=False)
    assert failed.stderr.strip() == "tidings: an app with key my-key already exists"
    assert len(json.loads(run(target, "list", "--json").stdout)) == 1


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("max_batch_size", "invalid --limit 'max_batch_size': expected NAME=VALUE"),
        ("colour=blue", "unknown limit 'colour'"),
        ("max_batch_size=0", "invalid value: limits.max_batch_size: Input should be greater than or equal to 1"),
        ("max_batch_size=ten", "invalid value: limits.max_batch_size: Input should be a valid integer"),
        ("max_batch_size=none", "invalid value: limits.max_batch_size"),
    ],
)
def test_bad_limit_is_refused_and_changes_nothing(target: list[str], limit: str, message: str) -> None:
    app_id = created_id(run(target, "create").stdout)
    before = show(target, app_id)

    failed = run(target, "update", app_id, "--name", "x", "--limit", limit, ok=False)

    assert failed.stderr.startswith(f"tidings: {message}")
    assert show(target, app_id) == before


@pytest.mark.parametrize("command", [["show"], ["enable"], ["disable"], ["update", "--name", "x"]])
def test_unknown_app_id(target: list[str], command: list[str]) -> None:
    failed = run(target, command[0], "9999999", *command[1:], ok=False)

    assert failed.stderr.strip() == "tidings: no app with id 9999999"


def test_update_without_changes_is_an_error(target: list[str]) -> None:
    app_id = created_id(run(target, "create").stdout)

    assert "nothing to change" in run(target, "update", app_id, ok=False).stderr


def test_empty_database_lists_nothing(target: list[str]) -> None:
    assert run(target, "list").stdout.splitlines()[1:] == []
    assert json.loads(run(target, "list", "--json").stdout) == []


def test_data_dir_comes_from_the_environment(tmp_path: Path) -> None:
    env = {"TIDINGS_DATA_DIR": str(tmp_path / "from-env")}

    result = CliRunner(env=env).invoke(apps, ["create", "--name", "env"])

    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-env" / "tidings.db").is_file()


def test_unsupported_database_url_is_one_line(tmp_path: Path) -> None:
    failed = run(["--database-url", "mysql://root:pw@localhost/x"], "list", ok=False)

    assert failed.stderr.startswith("tidings: unsupported database URL 'mysql://root:***@localhost/x'")


def test_through_the_tidings_command(tmp_path: Path) -> None:
    created = tidings_cli("apps", "create", "--name", "via-main", data_dir=tmp_path)
    assert created.returncode == 0, created.stderr
    app_id = created_id(created.stdout)

    listed = tidings_cli("apps", "list", "--json", data_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [(a["id"], a["name"]) for a in json.loads(listed.stdout)] == [(app_id, "via-main")]

    missing = tidings_cli("apps", "show", "404", data_dir=tmp_path)
    assert (missing.returncode, missing.stderr.strip()) == (1, "tidings: no app with id 404")


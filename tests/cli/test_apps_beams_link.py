"""`tidings apps ... --beams-instance`: linking an app to the Beams instance whose users are its users (user-first
delivery, docs/user-first-delivery.md), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid

from click.testing import CliRunner

from tests.cli.test_apps_cli import _no_tidings_env, created_id, pg_url, run, show, target
from tidings.cli.instances import instances

__all__ = ["_no_tidings_env", "pg_url", "target"]  # fixtures


def new_instance(target: list[str]) -> str:
    instance_id = str(uuid.uuid4())
    result = CliRunner().invoke(instances, [*target, "create", "--id", instance_id])
    assert result.exit_code == 0, result.output
    return instance_id


def test_link_show_and_unlink(target: list[str]) -> None:
    instance_id = new_instance(target)
    app_id = created_id(run(target, "create", "--name", "shop").stdout)
    assert show(target, app_id)["beams_instance"] is None
    assert re.search(r"^beams instance\s+none$", run(target, "show", app_id).stdout, re.M)

    run(target, "update", app_id, "--beams-instance", instance_id)
    assert show(target, app_id)["beams_instance"] == instance_id
    assert re.search(rf"^beams instance\s+{instance_id}$", run(target, "show", app_id).stdout, re.M)

    run(target, "update", app_id, "--beams-instance", "none")
    assert show(target, app_id)["beams_instance"] is None


def test_create_links_too(target: list[str]) -> None:
    instance_id = new_instance(target)
    app_id = created_id(run(target, "create", "--beams-instance", instance_id).stdout)
    assert show(target, app_id)["beams_instance"] == instance_id


def test_an_unknown_instance_is_refused(target: list[str]) -> None:
    app_id = created_id(run(target, "create").stdout)
    missing = str(uuid.uuid4())
    result = run(target, "update", app_id, "--beams-instance", missing, ok=False)
    assert f"no Beams instance with id {missing}" in result.stderr
    assert show(target, app_id)["beams_instance"] is None
    result = run(target, "create", "--beams-instance", missing, ok=False)
    assert "no Beams instance" in result.stderr


def test_an_instance_links_one_app_only(target: list[str]) -> None:
    instance_id = new_instance(target)
    first = created_id(run(target, "create", "--beams-instance", instance_id).stdout)
    second = created_id(run(target, "create").stdout)
    result = run(target, "update", second, "--beams-instance", instance_id, ok=False)
    assert f"Beams instance {instance_id} is already linked to app {first}" in result.stderr
    assert show(target, second)["beams_instance"] is None
    # Unlinked from the first, it can be linked to the second.
    run(target, "update", first, "--beams-instance", "none")
    run(target, "update", second, "--beams-instance", instance_id)
    assert show(target, second)["beams_instance"] == instance_id

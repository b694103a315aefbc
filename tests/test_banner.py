"""What `tidings serve` prints at start."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.support.server import APP_SECRET, start_server
from tidings.banner import (
    PRIVATE_PUSH_WARNING,
    app_secret_source,
    banner,
    beams_banner,
    instance_secret_source,
    link_banner,
)
from tidings.beams.instances import new_instance
from tidings.channels.credentials import new_app
from tidings.config import load_settings


@pytest.mark.parametrize("created", [True, False])
def test_beams_banner_warns_when_private_push_networks_are_allowed(created: bool) -> None:
    instance = new_instance()
    url = "http://127.0.0.1:6001"

    assert PRIVATE_PUSH_WARNING in beams_banner(instance, created=created, base_url=url,
                                                allow_private_push=True).splitlines()
    assert "WARNING" not in beams_banner(instance, created=created, base_url=url)
    assert beams_banner(instance, created=created, base_url=url).endswith("\n")


# -- secrets: printed when generated, named when supplied ---------------------------------------------------


def test_a_generated_app_secret_is_printed_on_the_start_that_created_it() -> None:
    app = new_app(name="default")
    text = banner(app, created=True, host="127.0.0.1", port=6001, storage="SQLite")
    assert f"secret: {app.secret}" in text
    assert f'secret="{app.secret}"' in text  # the Python snippet is ready to paste


def test_a_supplied_app_secret_is_named_never_printed() -> None:
    app = new_app(name="default", secret="supplied-secret-value")
    text = banner(app, created=True, host="127.0.0.1", port=6001, storage="SQLite",
                  secret_from="TIDINGS_DEFAULT_APP_SECRET")
    assert "supplied-secret-value" not in text
    assert "secret: from TIDINGS_DEFAULT_APP_SECRET" in text
    assert app.key in text  # the rest of the credentials and snippets are still there


def test_a_generated_instance_secret_key_is_printed_and_a_supplied_one_named() -> None:
    instance = new_instance()
    generated = beams_banner(instance, created=True, base_url="http://127.0.0.1:6001")
    assert f"secret_key:  {instance.secret_key}" in generated
    supplied = beams_banner(instance, created=True, base_url="http://127.0.0.1:6001",
                            secret_from="TIDINGS_DEFAULT_INSTANCE_SECRET")
    assert instance.secret_key not in supplied
    assert "secret_key:  from TIDINGS_DEFAULT_INSTANCE_SECRET" in supplied


def test_where_a_secret_came_from(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("TIDINGS_"):
            monkeypatch.delenv(name)
    assert app_secret_source(load_settings()) is None
    assert instance_secret_source(load_settings()) is None

    config = tmp_path / "tidings.toml"
    config.write_text('default_app_secret = "from-file"\ndefault_instance_secret = "from-file"\n')
    assert app_secret_source(load_settings(config_file=config)) == "default_app_secret in the config file"
    assert instance_secret_source(load_settings(config_file=config)) == "default_instance_secret in the config file"

    monkeypatch.setenv("TIDINGS_DEFAULT_APP_SECRET", "from-env")
    monkeypatch.setenv("TIDINGS_DEFAULT_INSTANCE_SECRET", "from-env")
    assert app_secret_source(load_settings(config_file=config)) == "TIDINGS_DEFAULT_APP_SECRET"
    assert instance_secret_source(load_settings(config_file=config)) == "TIDINGS_DEFAULT_INSTANCE_SECRET"


@pytest.mark.slow  # a subprocess server: what `tidings serve` itself prints
def test_serve_does_not_print_secrets_supplied_through_the_environment(tmp_path: Path) -> None:
    instance_secret = "instance-secret-from-env"
    server = start_server(tmp_path, env={
        "TIDINGS_DEFAULT_INSTANCE_ID": str(uuid.uuid4()), "TIDINGS_DEFAULT_INSTANCE_SECRET": instance_secret,
    })
    try:
        output = server.log()
    finally:
        server.stop()
    assert "Created an app" in output and "Created a Beams instance" in output  # first start: both created
    assert APP_SECRET not in output and instance_secret not in output
    assert "from TIDINGS_DEFAULT_APP_SECRET" in output and "from TIDINGS_DEFAULT_INSTANCE_SECRET" in output


def test_the_link_is_shown_with_what_it_does() -> None:
    assert link_banner(new_app(name="x")) == ""  # not linked: nothing to say
    linked = link_banner(new_app(name="x", beams_instance="inst-1"))
    assert "linked to Beams instance inst-1" in linked and "--user-mailbox SECONDS" in linked
    kept = link_banner(new_app(name="x", beams_instance="inst-1", user_mailbox=600))
    assert "kept 600 s" in kept and "--user-mailbox" not in kept

"""The default app's link to a Beams instance at start (user-first delivery): the embedded default links the app
and instance it creates together; TIDINGS_DEFAULT_APP_BEAMS_INSTANCE links the one it names. SQLite and
PostgreSQL, then through a whole in-process server start."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.storage.test_beams_instances import clear_beams, make_instance
from tests.support.inprocess import serving
from tidings.channels.credentials import new_app
from tidings.config import Settings
from tidings.storage import Storage
from tidings.storage.bootstrap import apply_default_links


def settings(**values: object) -> Settings:
    return Settings.model_validate(values)


async def test_an_app_and_instance_created_together_are_linked(storage: Storage) -> None:
    await clear_beams(storage)
    app = await storage.apps.create(new_app())
    instance = await storage.instances.create(make_instance())
    linked = await apply_default_links(settings(), storage.apps, app, instance, created_both=True)
    assert linked.beams_instance == instance.id
    assert (await storage.apps.get(app.id)).beams_instance == instance.id  # type: ignore[union-attr]


async def test_existing_ones_are_left_as_the_operator_set_them(storage: Storage) -> None:
    await clear_beams(storage)
    app = await storage.apps.create(new_app())
    instance = await storage.instances.create(make_instance())
    same = await apply_default_links(settings(), storage.apps, app, instance, created_both=False)
    assert same.beams_instance is None  # an app that existed before is not linked behind the operator's back
    other = await storage.instances.create(make_instance(str(uuid.uuid4())))
    linked = await storage.apps.update(app.id, beams_instance=other.id)
    kept = await apply_default_links(settings(), storage.apps, linked, instance, created_both=True)
    assert kept.beams_instance == other.id  # an app linked already keeps its link


async def test_the_setting_links_the_instance_it_names(storage: Storage) -> None:
    await clear_beams(storage)
    app = await storage.apps.create(new_app())
    default = await storage.instances.create(make_instance())
    named = await storage.instances.create(make_instance(str(uuid.uuid4())))
    linked = await apply_default_links(
        settings(default_app_beams_instance=named.id), storage.apps, app, default, created_both=True
    )
    assert linked.beams_instance == named.id
    assert (await storage.apps.get(app.id)).beams_instance == named.id  # type: ignore[union-attr]


async def test_a_fresh_embedded_server_links_its_default_app_and_instance(tmp_path: Path) -> None:
    async with serving(tmp_path / "data") as srv:
        assert srv.stack.created and srv.stack.instance_created
        assert srv.stack.app.beams_instance == srv.stack.instance.id
        stored = await srv.ctx.storage.apps.get(srv.stack.app.id)
        assert stored is not None and stored.beams_instance == srv.stack.instance.id
    async with serving(tmp_path / "data") as srv:  # a restart keeps the link
        assert not srv.stack.created and srv.stack.app.beams_instance == srv.stack.instance.id


async def test_the_environment_links_the_configured_instance(tmp_path: Path) -> None:
    instance_id = str(uuid.uuid4())
    env = {
        "TIDINGS_DEFAULT_INSTANCE_ID": instance_id,
        "TIDINGS_DEFAULT_INSTANCE_SECRET": "s" * 32,
        "TIDINGS_DEFAULT_APP_BEAMS_INSTANCE": instance_id,
    }
    async with serving(tmp_path / "data", env=env) as srv:
        assert srv.stack.app.beams_instance == instance_id

"""A database error never puts what was being stored into the log: not push tokens, payloads or user ids.

SQLAlchemy's exception text ends with the statement's parameters, and a logged traceback prints every exception
of the chain; the engines are created with `hide_parameters`, and StorageError messages take only the first line
of the driver's own message. Checked the way the server logs an unexpected error: the web layer's error
middleware, with the records captured.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.storage.test_beams_devices import INSTANCE, make_device
from tests.storage.test_beams_instances import clear_beams, make_instance
from tests.storage.test_beams_publishes import make_publish
from tidings.errors import StorageError
from tidings.storage import Storage
from tidings.web.errors import errors_middleware


@pytest.fixture
async def beams(storage: Storage) -> Storage:
    await clear_beams(storage)
    await storage.instances.create(make_instance(INSTANCE))
    return storage


async def logged_by_the_server(error: StorageError, caplog: pytest.LogCaptureFixture) -> str:
    """What the error middleware writes for `error` escaping a handler: every record, tracebacks included."""
    async def handler(request: web.Request) -> web.StreamResponse:
        raise error

    app = web.Application(middlewares=[errors_middleware])
    app.router.add_put("/device_api/v1/instances/{instance_id}/devices/{platform}/{device_id}/metadata", handler)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="tidings.web"):
        async with TestClient(TestServer(app)) as client:
            response = await client.put("/device_api/v1/instances/inst-1/devices/web/web-1/metadata")
            assert response.status == 500
    records = [r for r in caplog.records if r.name == "tidings.web"]
    assert len(records) == 1 and records[0].exc_info is not None
    assert "web-1" not in records[0].getMessage()  # the route's pattern is logged, not the path with its ids
    return caplog.text


async def failing(action: Any) -> StorageError:
    with pytest.raises(StorageError) as caught:
        await action
    assert caught.value.__cause__ is not None  # the driver's error is chained: the traceback shows it
    return caught.value


async def test_a_conflict_logs_neither_the_token_nor_the_metadata(
    beams: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    token, secret_meta = f"push-token-{secrets.token_hex(8)}", f"meta-{secrets.token_hex(8)}"
    device = make_device("web-1", token=token, metadata={"note": secret_meta})
    await beams.devices.create(device)

    error = await failing(beams.devices.create(device))  # the same id again: an IntegrityError underneath

    logged = await logged_by_the_server(error, caplog)
    assert "IntegrityError" in logged  # the cause is there...
    assert token not in logged and secret_meta not in logged  # ...without the values of the row
    assert "parameters hidden" in logged or "[parameters:" not in logged


@pytest.mark.postgres
@pytest.mark.parametrize("backend_url", ["postgres"], indirect=True)
async def test_a_refused_nul_logs_neither_the_token_nor_the_payload(
    beams: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL refuses NUL in text and JSONB: the web layer refuses it first, but storage must stay quiet too."""
    token = f"push-token-{secrets.token_hex(8)}"
    device_error = await failing(beams.devices.create(make_device("web-2", token=f"{token}\x00")))
    secret_title = f"title-{secrets.token_hex(8)}"
    payload = {"web": {"notification": {"title": f"{secret_title}\x00"}}}
    publish_error = await failing(beams.publishes.create(make_publish(instance_id=INSTANCE, payload=payload)))
    user = f"user-{secrets.token_hex(8)}"
    user_error = await failing(beams.devices.delete_user(INSTANCE, f"{user}\x00"))

    logged = "".join([await logged_by_the_server(e, caplog) for e in (device_error, publish_error, user_error)])

    assert "CharacterNotInRepertoireError" in logged or "UntranslatableCharacterError" in logged
    for value in (token, secret_title, user):
        assert value not in logged
    for error in (device_error, publish_error, user_error):
        assert "\n" not in str(error) and token not in str(error)

"""POST .../publishes/users with a `channels` object through a real in-process server (docs/user-first-delivery.md):
accepted when the instance is linked to an app and the event fits its limits; otherwise a Beams error body, and nothing
stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from tests.support.inprocess import ServerHandle, serving
from tidings.channels.apps import AppLimits
from tidings.storage.schema import beams_publishes

WEB = {"web": {"notification": {"title": "hi"}}}
ROUTED = {"event": "order-shipped", "data": {"order": 42}}


@pytest.fixture
async def srv(tmp_path: Path) -> AsyncIterator[ServerHandle]:
    async with serving(tmp_path / "data") as handle:  # the embedded default: app and instance linked
        yield handle


async def post(srv: ServerHandle, kind: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    instance = srv.stack.instance
    url = f"{srv.http_url}/publish_api/v1/instances/{instance.id}/publishes/{kind}"
    async with aiohttp.ClientSession() as http, http.post(
        url, json=body, headers={"Authorization": f"Bearer {instance.secret_key}"}
    ) as reply:
        return reply.status, await reply.json()


async def stored(srv: ServerHandle) -> int:
    async with srv.ctx.storage.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(beams_publishes)) or 0)


async def test_a_routed_publish_is_stored_with_its_event(srv: ServerHandle) -> None:
    status, body = await post(srv, "users", {"users": ["alice"], **WEB, "channels": ROUTED})
    assert status == 200, body
    publish = await srv.ctx.storage.publishes.get(srv.stack.instance.id, body["publishId"])
    assert publish is not None
    assert publish.payload["channels"] == {"event": "order-shipped", "data": '{"order":42}'}


@pytest.mark.parametrize(
    ("kind", "extra", "description"),
    [
        ("users", {"channels": {"event": "e"}}, "`channels.data` is required"),
        ("users", {"channels": {"event": "", "data": "x"}}, "`channels.event`: Event name must not be empty"),
        ("users", {"channels": ["e"]}, "`channels` must be an object"),
        ("users", {"channels": {"event": "e", "data": "x" * 10_241}}, "`channels.data` is too large"),
        ("interests", {"channels": ROUTED}, "`channels` is only for publishes to users"),
    ],
)
async def test_bad_channels_get_a_beams_error_and_store_nothing(
    srv: ServerHandle, kind: str, extra: dict[str, Any], description: str
) -> None:
    target = {"users": ["alice"]} if kind == "users" else {"interests": ["news"]}
    status, body = await post(srv, kind, {**target, **WEB, **extra})
    assert (status, body["error"]) == (400, "Bad request"), body
    assert body["description"].startswith(description), body
    assert await stored(srv) == 0


async def test_an_unlinked_instance_names_the_fix(srv: ServerHandle) -> None:
    await srv.ctx.storage.apps.update(srv.stack.app.id, beams_instance=None)
    status, body = await post(srv, "users", {"users": ["alice"], **WEB, "channels": ROUTED})
    assert (status, body["error"]) == (400, "Bad request"), body
    assert f"tidings apps update APP_ID --beams-instance {srv.stack.instance.id}" in body["description"]
    assert await stored(srv) == 0
    # Without `channels` the same instance publishes as before.
    status, body = await post(srv, "users", {"users": ["alice"], **WEB})
    assert status == 200 and await stored(srv) == 1


async def test_the_linked_apps_limit_applies(srv: ServerHandle) -> None:
    await srv.ctx.storage.apps.update(srv.stack.app.id, limits=AppLimits(max_event_data_bytes=20_000))
    big = {"event": "e", "data": "x" * 15_000}
    status, body = await post(srv, "users", {"users": ["alice"], **WEB, "channels": big})
    assert status == 200, body

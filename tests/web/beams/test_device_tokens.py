"""The device API answers each platform's token rule over HTTP: 400 InvalidToken with the rule's reason, and the
token stored as the rule keeps it. In-process: the whole server on the test's loop, SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.inprocess import ServerHandle, serving
from tidings.beams.instances import new_instance
from tidings.beams.models import Instance


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerHandle]:
    async with serving(tmp_path) as srv:
        yield srv


@pytest.fixture
async def instance(server: ServerHandle) -> Instance:
    created: Instance = await server.ctx.storage.instances.create(new_instance(name="tokens"))
    return created


async def call(server: ServerHandle, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.request(method, server.http_url + path, json=body) as response:
        return response.status, await response.json(content_type=None)


def devices(instance: Instance) -> str:
    return f"/device_api/v1/instances/{instance.id}/devices"


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("abcd", "APNs device tokens are 8 to 256 bytes (16 to 512 hex digits)"),  # once stored, then dead
        ("ab" * 257, "APNs device tokens are 8 to 256 bytes (16 to 512 hex digits)"),
        ("not hex", "APNs device tokens are hex strings"),
    ],
)
async def test_an_apns_token_apns_would_refuse_is_refused_at_registration(
    server: ServerHandle, instance: Instance, token: str, why: str
) -> None:
    status, body = await call(server, "POST", f"{devices(instance)}/apns", {"token": token})
    assert (status, body) == (400, {"error": "InvalidToken", "description": why})


async def test_an_apns_token_is_stored_lowercase(server: ServerHandle, instance: Instance) -> None:
    status, body = await call(server, "POST", f"{devices(instance)}/apns", {"token": "AB" * 32})
    assert status == 200, body
    stored = await server.ctx.storage.devices.get(instance.id, body["id"])
    assert stored is not None and stored.token == "ab" * 32


async def test_a_new_fcm_token_goes_through_the_fcm_rule(server: ServerHandle, instance: Instance) -> None:
    status, body = await call(server, "POST", f"{devices(instance)}/fcm", {"token": "fcm-token-1"})
    assert status == 200, body
    path = f"{devices(instance)}/fcm/{body['id']}/token"

    assert await call(server, "PUT", path, {"token": "fcm-token-2"}) == (200, None)
    status, refusal = await call(server, "PUT", path, {"token": ""})
    assert (status, refusal["error"]) == (400, "InvalidToken")

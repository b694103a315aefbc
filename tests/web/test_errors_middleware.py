"""The one translation point of HTTP errors: outages answer 503 in the product's error format."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tidings.adapters import AdapterUnavailable
from tidings.errors import RecordNotFound, StorageError, StorageUnavailable
from tidings.web.errors import errors_middleware


async def answer(exc: Exception, path: str) -> tuple[int, object]:
    async def handler(request: web.Request) -> web.Response:
        raise exc

    app = web.Application(middlewares=[errors_middleware])
    app.router.add_get(path, handler)
    async with TestClient(TestServer(app)) as client:
        response = await client.get(path)
        return response.status, await response.json()


async def test_storage_down_is_a_503_in_the_channels_format() -> None:
    status, body = await answer(StorageUnavailable("app lookup failed: connection refused"), "/apps/1/channels")
    assert (status, body) == (503, {"error": "Service temporarily unavailable, retry later"})


async def test_redis_down_is_a_503_in_the_beams_format() -> None:
    path = "/publish_api/v1/instances/x/publishes"
    status, body = await answer(AdapterUnavailable("timeout"), path)
    assert status == 503
    assert body == {"error": "Service Unavailable", "description": "Service temporarily unavailable, retry later"}


async def test_a_storage_refusal_is_still_a_500() -> None:
    status, body = await answer(StorageError("conflict"), "/apps/1/channels")
    assert (status, body) == (500, {"error": "Internal server error"})


async def test_not_found_is_a_404() -> None:
    status, _ = await answer(RecordNotFound("no such row"), "/apps/1/channels")
    assert status == 404


async def test_method_not_allowed_keeps_its_allow_header() -> None:
    """Found by schemathesis (tests/openapi/): the 405 routing raises lost its `Allow` header in translation."""
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app = web.Application(middlewares=[errors_middleware])
    app.router.add_get("/apps/1/channels", handler)
    app.router.add_post("/publish_api/v1/instances/x/publishes", handler)
    async with TestClient(TestServer(app)) as client:
        response = await client.delete("/apps/1/channels")
        assert response.status == 405
        assert set(response.headers["Allow"].split(",")) == {"GET", "HEAD"}
        assert await response.json() == {"error": "Method Not Allowed"}
        response = await client.get("/publish_api/v1/instances/x/publishes")
        assert (response.status, response.headers["Allow"]) == (405, "POST")
        assert (await response.json())["error"] == "Method Not Allowed"

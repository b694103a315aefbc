"""The OpenAPI description names exactly the routes the server registers, is valid OpenAPI 3.1, is what the
code builds, and is what GET /openapi.json serves (docs/openapi.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import schemathesis
from aiohttp import web

from tests.support.inprocess import serving
from tidings.console import web as console_web
from tidings.web.app import build_app
from tidings.web.beams import is_beams_path
from tidings.web.openapi import DOCUMENT
from tidings.web.openapi.build import render

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
HINT = "describe it in src/tidings/web/openapi/ (channels.py, beams.py, ops.py), then run " \
       "`python -m tidings.web.openapi.build`"


def described(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method in METHODS}


def served(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path template) of every route, as OpenAPI writes them: `{user_id:.+}` is `{user_id}`, a static
    directory is `<prefix>/{filename}`, and the HEAD aiohttp adds beside each GET is left out."""
    routes: set[tuple[str, str]] = set()
    for resource in app.router.resources():
        path = resource.canonical
        if isinstance(resource, web.StaticResource):
            path = path.rstrip("/") + "/{filename}"
        for route in resource:
            routes.add((route.method, path))
    return {(m, p) for m, p in routes if not (m == "HEAD" and ("GET", p) in routes)}


def drift(app_routes: set[tuple[str, str]], doc_routes: set[tuple[str, str]]) -> list[str]:
    problems = [f"served but not described: {m} {p} ({HINT})" for m, p in sorted(app_routes - doc_routes)]
    problems += [f"described but not served: {m} {p} (remove it from src/tidings/web/openapi/, then rebuild)"
                 for m, p in sorted(doc_routes - app_routes)]
    return problems


async def test_the_description_names_every_route_the_server_registers_and_no_other(tmp_path: Path) -> None:
    # demo on: its routes are registered only then, and described (as development only).
    async with serving(tmp_path, demo=True) as srv:
        app = build_app(srv.ctx)
        # As tidings.server.start does: the console's routes join build_app's when a console token exists.
        assert srv.stack.console is not None, "the embedded default generates a console token"
        console_web.register(app, srv.stack.console.console, srv.stack.console.auth)
    problems = drift(served(app), described(orjson.loads(DOCUMENT.read_bytes())))
    assert not problems, "\n".join(problems)


async def _handler(request: web.Request) -> web.Response:
    return web.Response()


def test_the_drift_message_names_the_route() -> None:
    app = web.Application()
    app.router.add_get("/health", _handler)
    app.router.add_post("/new/{thing:.+}", _handler)
    problems = drift(served(app), {("GET", "/health"), ("DELETE", "/gone")})
    assert problems[0].startswith("served but not described: POST /new/{thing} (")
    assert problems[1].startswith("described but not served: DELETE /gone (")
    assert len(problems) == 2


def test_the_committed_document_is_what_the_code_builds() -> None:
    assert DOCUMENT.read_bytes() == render(), "run `python -m tidings.web.openapi.build` and commit openapi.json"


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = orjson.loads(DOCUMENT.read_bytes())
    assert doc["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(doc).validate()  # against the OpenAPI 3.1 meta-schema
    ids = [op["operationId"] for item in doc["paths"].values() for m, op in item.items() if m in METHODS]
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_each_product_describes_errors_in_its_own_format() -> None:
    doc = orjson.loads(DOCUMENT.read_bytes())
    for path, item in doc["paths"].items():
        for method, op in item.items():
            refs = [r.get("$ref", "") for status, r in op["responses"].items() if status[0] in "45"]
            if path.startswith("/apps/"):
                assert refs and all(r.startswith("#/components/responses/Channels") for r in refs), (method, path)
            elif is_beams_path(path):
                assert refs and all(r.startswith("#/components/responses/Beams") for r in refs), (method, path)
    beams_404 = doc["components"]["responses"]["Beams404"]["content"]["application/json"]["schema"]
    assert "Device not found" in beams_404["allOf"][1]["properties"]["error"]["enum"]


async def test_served_at_openapi_json(tmp_path: Path) -> None:
    async with serving(tmp_path) as srv, aiohttp.ClientSession() as http:
        async with http.get(f"{srv.http_url}/openapi.json") as response:
            assert response.status == 200
            assert response.content_type == "application/json"
            assert await response.read() == DOCUMENT.read_bytes()

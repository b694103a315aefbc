"""The OpenAPI 3.1 description of every HTTP API Tidings serves, at GET /openapi.json.

The document is openapi.json beside this file (package data), built by build.py from the code's own rules;
the server serves those bytes as they are. docs/openapi.md says how it is kept true.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

DOCUMENT = Path(__file__).with_name("openapi.json")
_BYTES: web.AppKey[bytes] = web.AppKey("tidings_openapi", bytes)


def register(app: web.Application) -> None:
    """Serve the description; read once, here, so a missing file fails the start and not a request."""
    app[_BYTES] = DOCUMENT.read_bytes()
    app.router.add_get("/openapi.json", _document, name="openapi")


async def _document(request: web.Request) -> web.Response:
    # Any origin may read it: API tools in a browser (Swagger UI, Redoc) load it cross-origin.
    return web.Response(body=request.app[_BYTES], content_type="application/json",
                        headers={"Access-Control-Allow-Origin": "*"})

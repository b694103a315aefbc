"""The Channels HTTP API's authentication, shared by its handlers: the app a request names, and the request
verified against that app's key and secret (channels/httpauth.py)."""

from __future__ import annotations

import time

from aiohttp import web

from tidings.channels import httpauth
from tidings.channels.apps import App
from tidings.errors import Forbidden, HttpNotFound, Unauthorized
from tidings.web.context import Context, context


async def authenticate(request: web.Request, app: App | None) -> bytes:
    if app is None:
        raise HttpNotFound("Unknown app")
    body = await request.read()
    httpauth.verify_request(
        method=request.method,
        path=request.rel_url.raw_path,
        params=list(request.query.items()),
        body=body,
        key=app.key,
        secret=app.secret,
        now=time.time(),
    )
    if not app.enabled:
        raise Forbidden("App is disabled")
    return body


async def signed(request: web.Request) -> tuple[Context, App, bytes]:
    """The app the request names (by id in the path, else by its auth_key: the Python SDK posts to
    /users/{id}/terminate_connections without the /apps prefix), the request verified against it."""
    ctx = context(request)
    app_id = request.match_info.get("app_id")
    if app_id is not None:
        app = await ctx.registry.by_id(app_id)
    else:
        key = httpauth.auth_key_of(request.query.items())
        if key is None:
            raise Unauthorized("Missing auth_key")
        app = await ctx.registry.by_key(key)
    body = await authenticate(request, app)
    assert app is not None
    return ctx, app, body

"""The console's HTTP side: the login, the pages, and the API (JSON and Server-Sent Events), under /console.

Every route but the login page and the static files needs the session cookie or `Authorization: Bearer <console
token>`; a page without either is redirected to the login, an API call is answered 401 (429 after too many wrong
tokens from one address). Errors are ApiErrors, answered by web/errors.py like every other route's.

    GET  /console/login                               the login form (public)
    POST /console/login                               form field `token` -> session cookie, 303 to /console
    POST /console/logout                              clears the cookie, 303 to the login
    GET  /console, /console/apps/{app_id}[/users/{user_id}], /console/instances/{instance_id}[/users/{user_id}]
                                                      pages (pages.py)
    GET  /console/api/scopes                          apps and instances: ids, names, links (never a secret)
    GET  /console/api/{apps|instances}/{id}/stream    SSE: `data: <record>` per event; ?user=&channel=&event=&kind=
    GET  /console/api/{apps|instances}/{id}/users/{user_id}/timeline   JSON, newest first; ?limit= (1..1000)

An app's stream and timelines include the events of the Beams instance linked to it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from tidings.console import pages
from tidings.console.auth import COOKIE, ConsoleAuth
from tidings.console.core import Console
from tidings.console.filters import Filter
from tidings.errors import BadRequest, HttpNotFound, Unauthorized
from tidings.web.context import Context, context

STATIC_DIR = pages.STATIC_DIR
KEEPALIVE = 10.0  # seconds between SSE comments when nothing happens: a client that left is noticed by then
MAX_TIMELINE = 1000
STALLED = 60.0  # seconds a stream's reader may take nothing before it is dropped

CONSOLE: web.AppKey[Console] = web.AppKey("tidings_console", Console)
AUTH: web.AppKey[ConsoleAuth] = web.AppKey("tidings_console_auth", ConsoleAuth)


def register(app: web.Application, console: Console, auth: ConsoleAuth) -> None:
    app[CONSOLE] = console
    app[AUTH] = auth
    r = app.router
    r.add_get("/console/login", login_page, name="console.login")
    r.add_post("/console/login", login, name="console.login_post")
    r.add_post("/console/logout", logout, name="console.logout")
    r.add_static("/console/static/", STATIC_DIR, name="console.static", append_version=False)
    r.add_get("/console", page(pages.index), name="console.index")
    r.add_get("/console/", page(pages.index), name="console.index_slash")
    r.add_get("/console/apps/{app_id}", page(pages.stream), name="console.app")
    r.add_get("/console/apps/{app_id}/users/{user_id}", page(pages.timeline), name="console.app_user")
    r.add_get("/console/instances/{instance_id}", page(pages.stream), name="console.instance")
    r.add_get("/console/instances/{instance_id}/users/{user_id}", page(pages.timeline), name="console.instance_user")
    r.add_get("/console/api/scopes", scopes, name="console.api.scopes")
    r.add_get("/console/api/apps/{app_id}/stream", stream, name="console.api.app_stream")
    r.add_get("/console/api/instances/{instance_id}/stream", stream, name="console.api.instance_stream")
    r.add_get("/console/api/apps/{app_id}/users/{user_id}/timeline", timeline, name="console.api.app_timeline")
    r.add_get("/console/api/instances/{instance_id}/users/{user_id}/timeline", timeline,
              name="console.api.instance_timeline")


# -- who is asking -------------------------------------------------------------------------------------------


def _address(request: web.Request) -> str:
    return request.remote or "?"


def signed_in(request: web.Request) -> bool:
    """The session cookie, or a right bearer token (a wrong one raises: 401, or 429 past the limit)."""
    auth = request.app[AUTH]
    if auth.check_session(request.cookies.get(COOKIE)):
        return True
    header = request.headers.get("Authorization")
    if header is None:
        return False
    auth.check_bearer(header, _address(request))
    return True


def _api(request: web.Request) -> None:
    if not signed_in(request):
        raise Unauthorized("Sign in to the console (cookie) or send `Authorization: Bearer <console token>`")


def page(render: pages.Page) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        if not signed_in(request):
            raise web.HTTPSeeOther("/console/login")
        scope = await _scope(request) if request.match_info else None
        return pages.html(render(request.match_info, scope))

    return handler


async def login_page(request: web.Request) -> web.Response:
    if request.app[AUTH].check_session(request.cookies.get(COOKIE)):
        raise web.HTTPSeeOther("/console")
    return pages.html(pages.login())


async def login(request: web.Request) -> web.StreamResponse:
    try:
        form = await request.post()
    except ValueError as exc:  # aiohttp cannot parse it (multipart without a boundary): the client's mistake
        raise BadRequest(f"Could not read the form: {exc}") from exc
    token = form.get("token")
    auth = request.app[AUTH]
    try:
        cookie = auth.login(token if isinstance(token, str) else "", _address(request))
    except Unauthorized:
        return pages.html(pages.login("Wrong token."), status=401)
    # 429 (too many wrong tokens) goes to web/errors.py as every ApiError does.
    response = web.Response(status=303, headers={"Location": "/console", "Cache-Control": "no-store"})
    response.set_cookie(
        COOKIE, cookie, max_age=auth.session_seconds, path="/console", httponly=True, samesite="Strict",
        secure=request.secure,
    )
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.Response(status=303, headers={"Location": "/console/login", "Cache-Control": "no-store"})
    response.del_cookie(COOKIE, path="/console")
    return response


# -- what a page or API call is about ------------------------------------------------------------------------


class Scope:
    """An app (with its linked instance) or an instance, as found in storage."""

    def __init__(self, product: str, scope_id: str, name: str, linked: str | None) -> None:
        self.product = product
        self.id = scope_id
        self.name = name
        self.linked = linked  # the app's Beams instance

    @property
    def keys(self) -> frozenset[tuple[str, str]]:
        keys = {(self.product, self.id)}
        if self.linked:
            keys.add(("beams", self.linked))
        return frozenset(keys)


async def _scope(request: web.Request) -> Scope:
    ctx = context(request)
    app_id = request.match_info.get("app_id")
    if app_id is not None:
        app = await ctx.registry.by_id(app_id)
        if app is None:
            raise HttpNotFound("Unknown app")
        return Scope("channels", app.id, app.name, getattr(app, "beams_instance", None))
    instance_id = request.match_info["instance_id"]
    instance = await ctx.instances.get(instance_id)
    if instance is None:
        raise HttpNotFound("Unknown instance")
    return Scope("beams", instance.id, instance.name, None)


# -- the API -------------------------------------------------------------------------------------------------


async def scopes(request: web.Request) -> web.Response:
    _api(request)
    ctx = context(request)
    apps = await ctx.storage.apps.list()
    instances = await ctx.storage.instances.list()
    return web.json_response({
        "apps": [
            {"id": a.id, "name": a.name, "key": a.key, "enabled": a.enabled,
             "beams_instance": getattr(a, "beams_instance", None)}
            for a in apps
        ],
        "instances": [{"id": i.id, "name": i.name} for i in instances],
    })


async def stream(request: web.Request) -> web.StreamResponse:
    _api(request)
    scope = await _scope(request)
    flt = Filter.parse(request.query)
    console = request.app[CONSOLE]
    ctx = context(request)
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
    })
    view = console.open(scope.keys, flt)  # before the headers: a client that sees the stream open misses nothing
    try:
        await response.prepare(request)
    except BaseException:
        console.close(view)
        raise
    transport = request.transport
    if transport is not None:
        view.abort = transport.abort
    try:
        await response.write(b"retry: 2000\n: connected\n\n")
        while not view.closed and not ctx.shutting_down:
            items = await view.next(KEEPALIVE)
            if transport is None or transport.is_closing():
                break
            # write() waits for the socket to drain: a slow reader holds this loop, and its view drops (gap).
            # A reader that takes nothing for STALLED seconds is dropped.
            async with asyncio.timeout(STALLED):
                if items:
                    await response.write(b"".join(b"data: " + item + b"\n\n" for item in items))
                else:
                    await response.write(b": keepalive\n\n")
    except (ConnectionError, RuntimeError):  # the client went away (aiohttp: "Cannot write to closing transport")
        pass
    except TimeoutError:
        if transport is not None:
            transport.abort()
    finally:
        console.close(view)
    return response


# Kept events shown on a timeline: the mailbox holds at most user_mailbox_events (1000) per user.
MAILBOX_SHOWN = 100


async def timeline(request: web.Request) -> web.Response:
    _api(request)
    scope = await _scope(request)
    user_id = request.match_info["user_id"]
    limit = _limit(request.query.get("limit"))
    ctx = context(request)
    console = request.app[CONSOLE]
    entries: list[dict[str, Any]] = []
    for product, scope_id in sorted(scope.keys):
        entries += [orjson.loads(b) for b in await console.timeline.get((product, scope_id, user_id), limit)]
    entries.sort(key=lambda r: r.get("at", 0), reverse=True)
    entries = entries[:limit]
    out: dict[str, Any] = {
        "product": scope.product, "app_id" if scope.product == "channels" else "instance_id": scope.id,
        "user_id": user_id, "events": entries,
    }
    if scope.product == "channels":
        out["online"] = user_id in await ctx.hub.adapter.online(scope.id, (user_id,))
        out["connections_here"] = _connections_here(ctx, scope.id, user_id)
        mailbox = ctx.hub.mailbox
        if mailbox is not None:
            kept = await mailbox.peek(scope.id, user_id, MAILBOX_SHOWN)
            out["mailbox"] = {
                "kept": await mailbox.count(scope.id, user_id),
                # Oldest first: the order they will be replayed in.
                "events": [{"event": k.event, "data": k.data, "expires_at": k.expires_at} for k in kept],
            }
    instance = scope.id if scope.product == "beams" else scope.linked
    if instance:
        out["beams_instance"] = instance
        out["devices"] = await _devices(ctx, instance, user_id, entries)
    return web.json_response(out, dumps=lambda o: orjson.dumps(o).decode())


def _limit(raw: str | None) -> int:
    if raw is None:
        return 200
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TIMELINE:
        raise BadRequest(f"limit must be 1..{MAX_TIMELINE}")
    return int(raw)


def _connections_here(ctx: Context, app_id: str, user_id: str) -> list[dict[str, Any]]:
    """The user's signed-in connections on this node and their channels (other nodes' are in the timeline)."""
    st = ctx.hub.index.apps.get(app_id)
    conns = st.users.get(user_id, {}) if st is not None else {}
    return [
        {"socket_id": c.socket_id, "channels": sorted(n for n in c.channels if not n.startswith("#"))}
        for c in conns.values()
    ]


async def _devices(ctx: Context, instance_id: str, user_id: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    devices = await ctx.storage.devices.page_by_users(instance_id, [user_id], after=None, limit=100)
    last: dict[str, dict[str, Any]] = {}
    for entry in entries:  # newest first: the first result seen per device is its last
        if entry.get("kind") == "beams_delivered" and isinstance(entry.get("device_id"), str):
            last.setdefault(entry["device_id"], {
                k: entry.get(k) for k in ("publish_id", "outcome", "status", "attempts", "time")
            })
    return [
        {"id": d.id, "platform": d.platform.value,
         "created_at": d.created_at.isoformat() if d.created_at is not None else None,
         "last_result": last.get(d.id)}
        for d in devices
    ]


async def shutdown(app: web.Application) -> None:
    """End every open stream (server stop): their handlers return instead of holding the shutdown."""
    console = app.get(CONSOLE)
    if console is not None:
        console.close_all()
        await asyncio.sleep(0)

"""The browser demo of Authenticated Users, served at /demo when `settings.demo` is on.

DEVELOPMENT ONLY: the user-authentication endpoint below signs in ANY user name it is given, and
the send endpoint lets any visitor message any user of the app. Never turn demo mode on for a
server that real users or real apps can reach.

Routes (all under /demo):

- `GET  /demo[?key=<app key>]`  the page (static HTML, told which app key to use)
- `GET  /demo/static/...`       its script, stylesheet and the vendored pusher-js 8.6.0 browser build
- `POST /demo/user-auth`        pusher-js `userAuthentication` endpoint: `{"auth", "user_data"}` as the
                                official SDKs' authenticate_user build it
- `POST /demo/send`             publish a `demo-message` to `#server-to-user-<id>` through the same
                                validation and hub call as the HTTP API
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from tidings.channels import api, names, signatures, signin
from tidings.channels.apps import App
from tidings.errors import BadRequest, Forbidden, HttpNotFound
from tidings.web.context import context

STATIC_DIR = Path(__file__).parent / "static"
EVENT_NAME = "demo-message"
MAX_MESSAGE_CHARS = 1000
_KEY_PLACEHOLDER = "__TIDINGS_APP_KEY__"
_PAGE: web.AppKey[str] = web.AppKey("tidings_demo_page", str)


def register(app: web.Application) -> None:
    """Add the demo's routes to the Tidings application."""
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    if _KEY_PLACEHOLDER not in page:
        raise RuntimeError("demo index.html lost its app-key placeholder")
    app[_PAGE] = page
    r = app.router
    r.add_get("/demo", _page, name="demo.page")
    r.add_get("/demo/", _redirect_to_page, name="demo.slash")
    r.add_static("/demo/static/", STATIC_DIR, name="demo.static", append_version=False)
    r.add_post("/demo/user-auth", user_auth, name="demo.user_auth")
    r.add_post("/demo/send", send, name="demo.send")


async def _page(request: web.Request) -> web.Response:
    key = request.query.get("key")
    app = await _find_app(request, key)
    # An unknown key or an empty database still gets the page: it explains what is missing.
    shown = app.key if app is not None else ""
    body = request.app[_PAGE].replace(_KEY_PLACEHOLDER, html.escape(shown, quote=True))
    return web.Response(
        text=body,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


async def _redirect_to_page(request: web.Request) -> web.StreamResponse:
    target = request.rel_url.with_path("/demo")
    raise web.HTTPFound(str(target))


async def _find_app(request: web.Request, key: str | None) -> App | None:
    """The app whose key was given, else the first app in storage."""
    ctx = context(request)
    if key:
        return await ctx.registry.by_key(key)
    apps = await ctx.storage.apps.list()
    return apps[0] if apps else None


async def _app_for(request: web.Request, form_key: str | None) -> App:
    app = await _find_app(request, form_key)
    if app is None:
        raise HttpNotFound("Unknown app key" if form_key else "No app yet: create one with `tidings apps create`")
    if not app.enabled:
        raise Forbidden("App is disabled")
    return app


def _check_user_id(user_id: str, what: str) -> str:
    user_id = user_id.strip()
    if not user_id:
        raise BadRequest(f"{what} is empty")
    if len(user_id) > signin.MAX_USER_ID or names.check_channel_name(names.USER_CHANNEL_PREFIX + user_id) is not None:
        raise BadRequest(
            f"{what} {user_id[:40]!r} is not a valid user id: use 1..{signin.MAX_USER_ID} characters of "
            "letters, digits and -_=@.;"
        )
    return user_id


def parse_watchlist(raw: str) -> list[str]:
    """`"bob, carol,,bob"` -> `["bob", "carol"]`: comma-separated, trimmed, no empties, no duplicates."""
    seen: dict[str, None] = {}
    for part in raw.split(","):
        part = part.strip()
        if part:
            seen[_check_user_id(part, "Watchlist entry")] = None
    return list(seen)


def user_auth_response(key: str, secret: str, socket_id: str, user_data: dict[str, object]) -> dict[str, str]:
    """What the official SDKs' authenticate_user answer: the token over `socket_id::user::user_data`."""
    encoded = json.dumps(user_data)
    return {"auth": signatures.token(key, secret, signatures.signin_string(socket_id, encoded)), "user_data": encoded}


async def user_auth(request: web.Request) -> web.Response:
    """pusher-js's user-authentication request: signs in whatever `user_id` the page sends."""
    form = await _form(request)
    app = await _app_for(request, _field(form, "key"))
    socket_id = _field(form, "socket_id") or ""
    if not names.check_socket_id(socket_id):
        raise BadRequest("Invalid socket_id")
    user_id = _check_user_id(_field(form, "user_id") or "", "User name")
    # Watching yourself is allowed by the protocol; the demo keeps the list as typed.
    watchlist = parse_watchlist(_field(form, "watchlist") or "")
    user_data: dict[str, object] = {"id": user_id, "user_info": {"name": user_id}}
    if watchlist:
        user_data["watchlist"] = watchlist
    return web.json_response(user_auth_response(app.key, app.secret, socket_id, user_data))


async def send(request: web.Request) -> web.Response:
    """Send `demo-message` to a user, validated and published exactly like an HTTP API trigger."""
    form = await _form(request)
    app = await _app_for(request, _field(form, "key"))
    user_id = _check_user_id(_field(form, "user_id") or "", "Recipient")
    message = (_field(form, "message") or "").strip()
    if not message:
        raise BadRequest("Message is empty")
    if len(message) > MAX_MESSAGE_CHARS:
        raise BadRequest(f"Message is longer than {MAX_MESSAGE_CHARS} characters")
    payload: dict[str, str] = {"text": message}
    sender = (_field(form, "from") or "").strip()
    if sender:
        payload["from"] = sender[: signin.MAX_USER_ID]
    event = api.parse_trigger_obj(
        {"name": EVENT_NAME, "channels": [names.USER_CHANNEL_PREFIX + user_id], "data": json.dumps(payload)},
        app.limits,
    )
    delivered = context(request).hub.publish(app.id, event.name, event.channels, event.data)
    return web.json_response({"delivered": delivered})


async def _form(request: web.Request) -> Mapping[str, object]:
    try:
        return await request.post()
    except ValueError as exc:
        # aiohttp raises ValueError for a form it cannot parse (a multipart Content-Type without its boundary):
        # the client's mistake, a 400, not a 500.
        raise BadRequest(f"Could not read the form: {exc}") from exc


def _field(form: Mapping[str, object], name: str) -> str | None:
    """A text field of a form; absent, repeated-as-file or binary values count as missing."""
    value = form.get(name)
    return value if isinstance(value, str) else None

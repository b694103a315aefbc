"""The users API (docs/users.md): who is online, one user's presence, and replacing a user's watchlist live.

Signed like the rest of the Channels HTTP API (channels/httpauth.py). As for terminate_connections, the
watchlist PUT is also served without the `/apps/{app_id}` prefix, the app found by the request's `auth_key`
(the path the Python SDK uses for user endpoints).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tidings.channels import api, signin
from tidings.errors import BadRequest
from tidings.web.signed import signed

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def page_params(query: Mapping[str, str]) -> tuple[str | None, int] | None:
    """(cursor, limit) from `?cursor=&limit=`; None when neither is given (the whole list, as Pusher answers)."""
    if "cursor" not in query and "limit" not in query:
        return None
    raw = query.get("limit", str(DEFAULT_PAGE))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw[:6]) <= MAX_PAGE:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE}")
    cursor = query.get("cursor") or None
    return cursor, int(raw)


def _user_id(request: web.Request) -> str:
    user_id = request.match_info["user_id"]
    problem = signin.check_user_id(user_id)
    if problem is not None:
        raise BadRequest(f"Invalid user id: {problem}")
    return user_id


async def replace_watchlist(request: web.Request) -> web.Response:
    """PUT .../users/{user_id}/watchlist `{"watchlist": [ids]}`: on every connection of the user, now."""
    ctx, app, body = await signed(request)
    user_id = _user_id(request)
    try:
        watchlist = signin.check_watchlist(app, api.parse_json_body(body))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    ctx.hub.users.replace_watchlist(app.id, user_id, watchlist)
    return web.json_response({})


async def online_users(request: web.Request) -> web.Response:
    """GET /apps/{app_id}/users: the app's signed-in users across the cluster, a page at a time."""
    ctx, app, _ = await signed(request)
    cursor, limit = page_params(request.query) or (None, DEFAULT_PAGE)
    page = await ctx.hub.adapter.online_users(app.id, cursor, limit)
    users = [{"id": u.user_id, "connections": u.connections} for u in page.users]
    return web.json_response({"users": users, "next_cursor": page.next_cursor, "total": page.total})


async def user(request: web.Request) -> web.Response:
    """GET /apps/{app_id}/users/{user_id}: online or not, with how many connections, since when."""
    ctx, app, _ = await signed(request)
    user_id = _user_id(request)
    found = await ctx.hub.adapter.user_presence(app.id, user_id)
    out: dict[str, Any] = {"id": user_id, "online": found is not None, "connections": 0, "since": None}
    if found is not None:
        out.update(connections=found.connections, since=found.since)
    return web.json_response(out)

"""The Channels HTTP API: signed requests under /apps/{app_id}/..., answered with JSON.

Each handler authenticates, lets the pure core validate, then calls the hub. ApiErrors raised
anywhere below become `{"error": ...}` responses in web/errors.py, and so does AdapterUnavailable (503:
Redis did not answer).

A trigger either answers 200 and its event is delivered everywhere (the bus keeps it until Redis answers),
or answers an error and delivers nothing: whatever can fail (the `info` attributes, the cache write, the
bus) happens before the first delivery.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tidings.adapters.base import ChannelInfo
from tidings.channels import api, names
from tidings.channels.apps import App
from tidings.errors import BadRequest
from tidings.web import users_api
from tidings.web.context import Context, context
from tidings.web.signed import authenticate, signed


async def _app(request: web.Request) -> tuple[Context, App, bytes]:
    ctx = context(request)
    app = await ctx.registry.by_id(request.match_info["app_id"])
    body = await authenticate(request, app)
    assert app is not None
    return ctx, app, body


async def _attributes(
    ctx: Context, app_id: str, name: str, info: frozenset[str], found: ChannelInfo | None = None
) -> dict[str, Any]:
    """Cluster-wide figures, from the adapter (with Redis, one round trip per channel)."""
    out: dict[str, Any] = {}
    if not info:
        return out
    if found is None:
        found = await ctx.hub.adapter.channel(app_id, name)
    if "user_count" in info and names.channel_type(name).is_presence:
        out["user_count"] = found.user_count
    if "subscription_count" in info:
        out["subscription_count"] = found.subscription_count
    return out


async def trigger(request: web.Request) -> web.Response:
    ctx, app, body = await _app(request)
    event = api.parse_trigger(body, app.limits)
    # Read before triggering: a Redis failure then answers 503 with nothing delivered, so a client that
    # retries does not duplicate the event. (Triggering does not change the figures read.)
    out = {name: await _attributes(ctx, app.id, name, event.info) for name in event.channels} if event.info else None
    await ctx.hub.trigger(app, event.name, event.channels, event.data, event.socket_id)
    return web.json_response({} if out is None else {"channels": out})


async def batch(request: web.Request) -> web.Response:
    ctx, app, body = await _app(request)
    batch = api.parse_batch(body, app.limits)
    # As in trigger: every attribute read first. A batch is not atomic though: if Redis fails part way
    # (the bus buffer full, a cache write), the events before that one are delivered and the answer is 503.
    out = [await _attributes(ctx, app.id, e.channels[0], e.info) for e in batch] if any(e.info for e in batch) else None
    for event in batch:
        await ctx.hub.trigger(app, event.name, event.channels, event.data, event.socket_id)
    return web.json_response({} if out is None else {"batch": out})


async def channels(request: web.Request) -> web.Response:
    ctx, app, _ = await _app(request)
    prefix = request.query.get("filter_by_prefix")
    info = api.parse_info(request.query.get("info"), frozenset({"user_count"}))
    api.check_channels_request(prefix, info)
    out = {
        name: await _attributes(ctx, app.id, name, info)
        for name in await ctx.hub.adapter.channels(app.id)
        # `#server-to-user-*` channels are the server's own plumbing for sign-in, not the app's channels.
        if (prefix is None or name.startswith(prefix)) and not name.startswith("#")
    }
    return web.json_response({"channels": out})


async def channel(request: web.Request) -> web.Response:
    ctx, app, _ = await _app(request)
    name = request.match_info["channel"]
    problem = names.check_channel_name(name, app.limits.max_channel_name_length)
    if problem is not None:
        raise BadRequest(problem)
    info = api.parse_info(request.query.get("info"), frozenset({"user_count", "subscription_count", "cache"}))
    api.check_channel_info_request(name, info)
    found = await ctx.hub.adapter.channel(app.id, name)
    out: dict[str, Any] = {
        "occupied": found.subscription_count > 0, **await _attributes(ctx, app.id, name, info, found)
    }
    if "cache" in info:
        cached = await ctx.hub.adapter.cached(app.id, name)
        if cached is not None:
            out["cache"] = {"data": cached.data, "ttl": max(0, int(cached.ttl))}
    return web.json_response(out)


async def users(request: web.Request) -> web.Response:
    ctx, app, _ = await _app(request)
    name = request.match_info["channel"]
    if not names.channel_type(name).is_presence:
        raise BadRequest("Users can only be listed for presence channels")
    page = users_api.page_params(request.query)  # ?cursor=&limit=: a page of a large roster (docs/users.md)
    if page is not None:
        found = await ctx.hub.adapter.members_page(app.id, name, *page)
        users = [{"id": uid} for uid in found.user_ids]
        return web.json_response({"users": users, "next_cursor": found.next_cursor, "total": found.total})
    ids = list(await ctx.hub.adapter.members(app.id, name))
    return web.json_response({"users": [{"id": uid} for uid in ids]})


async def terminate(request: web.Request) -> web.Response:
    ctx, app, _ = await signed(request)
    ctx.hub.terminate_user(app.id, request.match_info["user_id"])
    return web.json_response({})

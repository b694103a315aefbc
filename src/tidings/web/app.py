"""Routes: the WebSocket endpoint, the Channels HTTP API and the operational endpoints, on one port."""

from __future__ import annotations

from aiohttp import web

from tidings.web import api, beams, health, openapi, users_api, ws
from tidings.web.context import CONTEXT, Context
from tidings.web.errors import errors_middleware
from tidings.web.logcontext import log_context_middleware


def build_app(ctx: Context) -> web.Application:
    app = web.Application(
        middlewares=[log_context_middleware, beams.cors_middleware, errors_middleware],
        client_max_size=ctx.settings.max_request_bytes,
    )
    app[CONTEXT] = ctx
    r = app.router
    r.add_get("/app/{key}", ws.websocket, name="ws")
    r.add_post("/apps/{app_id}/events", api.trigger, name="api.events")
    r.add_post("/apps/{app_id}/batch_events", api.batch, name="api.batch_events")
    r.add_get("/apps/{app_id}/channels", api.channels, name="api.channels")
    r.add_get("/apps/{app_id}/channels/{channel}", api.channel, name="api.channel")
    r.add_get("/apps/{app_id}/channels/{channel}/users", api.users, name="api.users")
    r.add_post("/apps/{app_id}/users/{user_id}/terminate_connections", api.terminate, name="api.terminate")
    r.add_post("/users/{user_id}/terminate_connections", api.terminate, name="api.terminate_unprefixed")
    r.add_get("/apps/{app_id}/users", users_api.online_users, name="api.online_users")
    r.add_get("/apps/{app_id}/users/{user_id}", users_api.user, name="api.user")
    r.add_put("/apps/{app_id}/users/{user_id}/watchlist", users_api.replace_watchlist, name="api.watchlist")
    r.add_put("/users/{user_id}/watchlist", users_api.replace_watchlist, name="api.watchlist_unprefixed")
    beams.add_routes(r)
    r.add_get("/health", health.health, name="health")
    r.add_get("/ready", health.ready, name="ready")
    r.add_get("/metrics", health.metrics, name="metrics")
    openapi.register(app)
    if ctx.settings.demo:
        from tidings.web import demo

        demo.register(app)
    return app

"""Each HTTP request's log lines carry the ids its route names (app, instance, publish, user) as fields."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from tidings.log import bound

# Route parameters that are ids worth a field; the rest (channels, interests, device ids) stay out of the log.
ROUTE_IDS = ("app_id", "instance_id", "publish_id", "user_id")


@web.middleware
async def log_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Outermost, so the error middleware's lines carry the ids too. The block is left in the request's own
    # task, so the next request of a kept-alive connection starts without them.
    match = request.match_info
    with bound(**{name: match.get(name) or None for name in ROUTE_IDS}):
        return await handler(request)

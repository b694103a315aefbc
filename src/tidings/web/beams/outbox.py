"""GET /outbox_api/v1/instances/{instance_id}/notifications[?user_id=ID&limit=N]: the push outbox, newest first.

Authenticated like the publish API (the instance's secret key as a bearer token): the kept requests hold device
tokens and payloads. The body is {"notifications": [...]} in the shape of tidings.outbox.view (docs/outbox.md).
"""

from __future__ import annotations

from aiohttp import web

from tidings.errors import BeamsError, BeamsErrorKind
from tidings.outbox.view import MAX_LIMIT, notification
from tidings.web.beams.common import authenticated_instance
from tidings.web.context import context

DEFAULT_LIMIT = 100


async def list_notifications(request: web.Request) -> web.Response:
    ctx = context(request)
    inst = await authenticated_instance(request)
    user_id = request.query.get("user_id")
    if user_id is not None and not user_id:
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, "user_id must not be empty")
    records = await ctx.storage.outbox.list(
        inst.id, retention=ctx.settings.outbox_retention, user_id=user_id, limit=_limit(request.query.get("limit"))
    )
    return web.json_response({"notifications": [notification(record) for record in records]})


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)

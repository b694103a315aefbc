"""GET a publish's delivery status (publish API, authenticated with the instance's secret key)."""

from __future__ import annotations

from aiohttp import web

from tidings.delivery.status import publish_status
from tidings.errors import BeamsError, BeamsErrorKind
from tidings.web.beams.common import authenticated_instance
from tidings.web.context import context


async def get_publish_status(request: web.Request) -> web.Response:
    ctx = context(request)
    inst = await authenticated_instance(request)
    body = await publish_status(ctx.storage, inst.id, request.match_info["publish_id"])
    if body is None:
        raise BeamsError(BeamsErrorKind.PUBLISH_NOT_FOUND, "Could not find a publish with that id for this instance")
    return web.json_response(body)

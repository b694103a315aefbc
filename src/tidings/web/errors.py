"""Errors to responses, in one place: every refused HTTP request gets a JSON body `{"error": ...}`."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from tidings.errors import ApiError
from tidings.web.context import context

log = logging.getLogger("tidings.web")


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route.name or "other"
    try:
        response = await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = "Request body too large" if exc.status == 413 else (exc.reason or "error")
        response = error_response(exc.status, message)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = error_response(500, "Internal server error")
    if route.startswith("api."):
        context(request).metrics.http_requests.labels(route, str(response.status)).inc()
    return response

"""Errors to responses, in one place: every refused HTTP request gets a JSON body `{"error": ...}`."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from tidings.adapters.base import AdapterUnavailable
from tidings.errors import ApiError, BeamsError, BeamsErrorKind, RecordNotFound, StorageUnavailable
from tidings.web.beams import is_beams_path
from tidings.web.context import context

log = logging.getLogger("tidings.web")


def error_response(status: int, message: str, *, beams: bool = False, title: str | None = None) -> web.Response:
    if beams:
        # Beams SDKs need both fields non-empty (the Node SDK crashes on an empty error body).
        if title is None:
            kind = BeamsErrorKind.for_status(status)
            title = kind.title if kind is not None else "Error"
        return web.json_response({"error": title, "description": message}, status=status)
    return web.json_response({"error": message}, status=status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route.name or "other"
    beams = is_beams_path(request.path)
    try:
        response = await handler(request)
    except BeamsError as exc:
        response = error_response(exc.status, exc.description, beams=True, title=exc.title)
    except ApiError as exc:
        response = error_response(exc.status, exc.message, beams=beams)
    except RecordNotFound as exc:
        response = error_response(404, str(exc) or "Not found", beams=beams)
    except (AdapterUnavailable, StorageUnavailable) as exc:
        # Redis or the database did not answer (in time): expected during an outage, so one line and no stack
        # trace; the client may retry (nothing was delivered, see web/api.py).
        log.warning("%s %s: 503, %s unavailable: %s", request.method, _route_pattern(request),
                    "storage" if isinstance(exc, StorageUnavailable) else "shared state", exc)
        response = error_response(503, "Service temporarily unavailable, retry later", beams=beams)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = "Request body too large" if exc.status == 413 else (exc.reason or "error")
        response = error_response(exc.status, message, beams=beams)
        if "Allow" in exc.headers:  # a 405 must say which methods the resource takes (RFC 9110 15.5.6)
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        # The route's pattern, not the path: paths carry user ids, device ids and app keys.
        log.exception("unhandled error on %s %s", request.method, _route_pattern(request))
        response = error_response(500, "Internal server error", beams=beams)
    if route.startswith(("api.", "beams.")):
        context(request).metrics.http_requests.labels(route, str(response.status)).inc()
    return response


def _route_pattern(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"

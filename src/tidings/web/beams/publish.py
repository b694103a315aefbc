"""Beams publish API and customer API (server side, authenticated with the instance's secret key)."""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web

from tidings.beams import events as ev
from tidings.beams import ids, validation
from tidings.beams.models import Publish, TargetKind
from tidings.errors import BeamsError, BeamsErrorKind
from tidings.web.beams.common import authenticated_instance, ok, read_body
from tidings.web.context import context


async def _publish(request: web.Request, kind: TargetKind) -> web.Response:
    ctx = context(request)
    inst = await authenticated_instance(request)
    ctx.beams_rate.check(inst.id)
    limit = validation.MAX_USERS_BODY if kind == "users" else validation.MAX_INTERESTS_BODY
    body = await read_body(request, limit)
    parsed = validation.parse_publish(body, request.headers.get("Content-Type"), kind)
    routed = parsed.routed
    if routed is not None:  # user-first routing: the linked app must exist and take the event
        validation.check_routing(routed, await ctx.storage.apps.get_by_instance(inst.id), inst.id)
    publish = Publish(
        id=ids.new_publish_id(), instance_id=inst.id, kind=kind, targets=parsed.targets, payload=parsed.payload
    )
    # Stored (committed) before the reply: an accepted publish is never lost.
    await ctx.storage.publishes.create(publish)
    ctx.stream.emit(ev.BeamsPublishAccepted(inst.id, publish.id, kind, len(publish.targets),
                                            target_ids=publish.targets, payload=parsed.payload))
    return web.json_response({"publishId": publish.id})


async def publish_interests(request: web.Request) -> web.Response:
    return await _publish(request, "interests")


async def publish_users(request: web.Request) -> web.Response:
    return await _publish(request, "users")


async def delete_user(request: web.Request) -> web.Response:
    ctx = context(request)
    inst = await authenticated_instance(request)
    # The user id may contain "/" and percent-escapes (SDKs encode it differently): take the raw rest of
    # the path and percent-decode it once; "+" stays literal (RFC 3986). The escapes are well-formed UTF-8:
    # `authenticated_instance` checked the path.
    raw = request.rel_url.raw_path.split("/users/", 1)[1]
    user_id = unquote(raw, errors="strict") if raw else ""
    if not user_id:
        raise BeamsError(BeamsErrorKind.NOT_FOUND, "No user id given")
    validation.check_user_id(user_id)
    # The user and all their devices, as Pusher documents: nothing published afterwards reaches them.
    await ctx.storage.devices.delete_user(inst.id, user_id)
    return ok()

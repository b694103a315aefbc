"""The Beams device API (called by the client SDKs, unauthenticated except the Beams Token on PUT user)."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from tidings.beams import events as ev
from tidings.beams import ids, tokens, validation
from tidings.beams.models import Device, Instance, Platform
from tidings.errors import BeamsError, BeamsErrorKind
from tidings.providers import device_tokens, netguard
from tidings.providers.webpush import subscription
from tidings.storage import InterestResult, SetUserResult
from tidings.storage.beams import ReportResult
from tidings.web.beams.common import instance, ok, read_body
from tidings.web.context import Context, context

log = logging.getLogger("tidings.web.beams")
RESOLVE_TIMEOUT = 5.0  # seconds to resolve a Web Push endpoint's host at registration


def _platform(request: web.Request) -> Platform:
    raw = request.match_info["platform"]
    try:
        return Platform(raw)
    except ValueError:
        raise BeamsError(
            BeamsErrorKind.NOT_FOUND, f"Unknown platform {raw[:20]!r}: expected web, apns or fcm"
        ) from None


def _device_not_found() -> BeamsError:
    return BeamsError(BeamsErrorKind.DEVICE_NOT_FOUND, "Could not find the device")


async def _body(request: web.Request, limit: int = validation.MAX_DEVICE_BODY) -> bytes:
    """The body, at most `limit` bytes (each endpoint's own bound, from validation), else a 400."""
    body = await read_body(request, limit)
    if len(body) > limit:
        raise BeamsError(BeamsErrorKind.BAD_REQUEST, f"Request body size is too large (max {limit // 1024}KiB).")
    if body:
        validation.check_content_type(request.headers.get("Content-Type"))
    return body


async def _device(request: web.Request) -> tuple[Instance, Device]:
    inst = await instance(request)
    platform = _platform(request)
    device = await context(request).storage.devices.get(inst.id, request.match_info["device_id"])
    if device is None or device.platform is not platform:
        raise _device_not_found()
    return inst, device


async def vapid_public_key(request: web.Request) -> web.Response:
    inst = await instance(request)
    return ok({"vapidPublicKey": inst.vapid_public_key})


async def register(request: web.Request) -> web.Response:
    ctx = context(request)
    inst = await instance(request)
    platform = _platform(request)
    allow_private = ctx.settings.push_allow_private_networks
    token_rule = device_tokens.rule(platform, https_only=not allow_private)
    reg = validation.parse_registration(platform, await _body(request), token_rule)
    if platform is Platform.WEB and not allow_private:
        await _check_push_endpoint(ctx, subscription.decode(reg.token).endpoint)
    device = Device(
        id=ids.new_device_id(platform),
        instance_id=inst.id,
        platform=platform,
        token=reg.token,
        metadata=reg.metadata,
        bundle_identifier=reg.bundle_identifier,
    )
    await ctx.storage.devices.create(device)
    # A refreshed FCM registration names its previous device ids: carry their interests over to the new one.
    initial: list[str] = []
    for old_id in reg.known_previous_client_ids:
        old = await ctx.storage.devices.get(inst.id, old_id)
        if old is None or old.platform is not platform:
            continue
        page = await ctx.storage.devices.list_interests(inst.id, old_id, limit=validation.MAX_INTERESTS_PER_DEVICE,
                                                        offset=0)
        if page is not None:
            initial.extend(i for i in page[0] if i not in initial)
    if initial:
        await ctx.storage.devices.set_interests(inst.id, device.id, initial)
    return ok({"id": device.id, "initialInterestSet": initial})


async def _check_push_endpoint(ctx: Context, endpoint: str) -> None:
    """The server will POST to this URL: its host must be public (no SSRF). Delivery checks it again per send."""
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            await netguard.check_url(endpoint, ctx.push_resolver)
    except netguard.PrivateAddressError:
        raise validation.invalid_token(
            "the subscription `endpoint` must be on the public internet: its host is a loopback, private or "
            "reserved address"
        ) from None
    except TimeoutError:
        raise BeamsError(
            BeamsErrorKind.UNAVAILABLE, "Could not resolve the subscription `endpoint` host in time, try again."
        ) from None
    except OSError:
        raise validation.invalid_token("the subscription `endpoint` host name does not resolve") from None


async def get_device(request: web.Request) -> web.Response:
    _, device = await _device(request)
    return ok({"id": device.id, "userId": device.user_id, "metadata": device.metadata})


async def delete_device(request: web.Request) -> web.Response:
    inst = await instance(request)
    _platform(request)
    # Unknown devices still get 2xx: Android's SDK retries a failed delete forever.
    await context(request).storage.devices.delete(inst.id, request.match_info["device_id"])
    return ok()


async def set_fcm_token(request: web.Request) -> web.Response:
    inst, device = await _device(request)
    if device.platform is not Platform.FCM:
        raise _device_not_found()
    token = validation.parse_token(await _body(request), device_tokens.rule(Platform.FCM))
    await context(request).storage.devices.set_token(inst.id, device.id, token)
    return ok()


async def set_metadata(request: web.Request) -> web.Response:
    inst, device = await _device(request)
    metadata = validation.parse_metadata(await _body(request))
    await context(request).storage.devices.set_metadata(inst.id, device.id, metadata)
    return ok()


async def set_user(request: web.Request) -> web.Response:
    """Tie the device to a user. Only a valid Beams Token for this instance can do it."""
    ctx = context(request)
    inst, device = await _device(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BeamsError(BeamsErrorKind.UNAUTHORIZED, "`Authorization` header token is missing.")
    user_id = tokens.verify(token.strip(), instance_id=inst.id, secret_key=inst.secret_key, now=time.time())
    result = await ctx.storage.devices.set_user(
        inst.id, device.id, user_id, max_per_platform=validation.MAX_DEVICES_PER_USER_PER_PLATFORM
    )
    if result is SetUserResult.NOT_FOUND:
        raise _device_not_found()
    if result is SetUserResult.OTHER_USER:
        raise BeamsError(BeamsErrorKind.REJECTED, "A User Id is already associated with this device.")
    if result is SetUserResult.TOO_MANY_DEVICES:
        raise BeamsError(
            BeamsErrorKind.UNPROCESSABLE,
            f"User already has reached the maximum of {validation.MAX_DEVICES_PER_USER_PER_PLATFORM} devices.",
        )
    ctx.stream.emit(ev.BeamsDeviceUserSet(inst.id, device.id, user_id))
    return ok()


async def add_interest(request: web.Request) -> web.Response:
    inst, device = await _device(request)
    interest = request.match_info["interest"]
    validation.check_interest(interest)
    result = await context(request).storage.devices.add_interest(
        inst.id, device.id, interest, max_interests=validation.MAX_INTERESTS_PER_DEVICE
    )
    if result is InterestResult.NOT_FOUND:
        raise _device_not_found()
    if result is InterestResult.TOO_MANY:
        raise validation.too_many_interests()
    return ok()


async def remove_interest(request: web.Request) -> web.Response:
    inst, device = await _device(request)
    interest = request.match_info["interest"]
    validation.check_interest(interest)
    if not await context(request).storage.devices.remove_interest(inst.id, device.id, interest):
        raise _device_not_found()
    return ok()


async def set_interests(request: web.Request) -> web.Response:
    inst, device = await _device(request)
    interests = validation.parse_interest_set(await _body(request, validation.MAX_INTEREST_SET_BODY))
    if not await context(request).storage.devices.set_interests(inst.id, device.id, interests):
        raise _device_not_found()
    return ok()


async def list_interests(request: web.Request) -> web.Response:
    inst, device = await _device(request)
    limit, offset = validation.parse_list_limit(request.query.get("limit"), request.query.get("cursor"))
    page = await context(request).storage.devices.list_interests(inst.id, device.id, limit=limit, offset=offset)
    if page is None:
        raise _device_not_found()
    interests, next_offset = page
    metadata = {"nextCursor": str(next_offset)} if next_offset is not None else {}
    return ok({"interests": interests, "responseMetadata": metadata})


async def report_event(request: web.Request) -> web.Response:
    """Reporting API: delivery and open events from devices (no auth), stored per publish.

    Only a device the publish targeted may report on it, once per event type. Anything else is answered
    200 like a recorded report, and dropped: the SDKs stop retrying on 200, and a different answer would
    tell an unauthenticated caller which devices a publish reached.
    """
    ctx = context(request)
    inst = await instance(request)
    body = await read_body(request, validation.MAX_REPORTING_BODY)  # no Content-Type check: sent as the SDKs do
    event = validation.parse_reporting_event(body)
    result = await ctx.storage.publishes.add_report(
        inst.id, event.publish_id, event.event, event.device_id, event.user_id, event.timestamp_secs, event.extra
    )
    if result is ReportResult.RECORDED:
        # After storing, once: listeners (Beams webhooks) see only reports that were accepted and new.
        ctx.stream.emit(ev.BeamsNotificationReported(inst.id, event.publish_id, event.event, event.device_id,
                                                     event.user_id))
    elif result is ReportResult.NOT_TARGETED:
        log.debug("report dropped: publish %s of instance %s did not target device %s",
                  event.publish_id, inst.id, event.device_id)
    return ok()

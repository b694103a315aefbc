"""The Beams APIs as OpenAPI paths: publish, customer, device (under two prefixes) and reporting.

Handlers: web/beams/; rules and limits: beams/validation/ (the numbers below are read from it).
"""

from __future__ import annotations

from tidings.beams import validation
from tidings.beams.validation.interests import MAX_LIST_LIMIT
from tidings.beams.validation.publish import MAX_TIME_TO_LIVE
from tidings.outbox.view import MAX_LIMIT as MAX_OUTBOX_LIMIT
from tidings.web.openapi.common import (
    Json,
    beams_errors,
    empty_response,
    json_body,
    json_response,
    path_param,
    query_param,
    ref,
)

SECRET_KEY: list[Json] = [{"beamsSecretKey": []}]
BEAMS_TOKEN: list[Json] = [{"beamsToken": []}]

INSTANCE_ID = path_param("instance_id", "The Beams instance's id.")
PLATFORM = path_param("platform", "The device's platform.", {"type": "string", "enum": ["web", "apns", "fcm"]})
DEVICE_ID = path_param("device_id", "The id the registration answered.")
INTEREST_PATTERN = f"^[A-Za-z0-9_\\-=@,.;]{{1,{validation.MAX_ID_LENGTH}}}$"
INTEREST = {"type": "string", "pattern": INTEREST_PATTERN}


def security_schemes() -> dict[str, Json]:
    return {
        "beamsSecretKey": {"type": "http", "scheme": "bearer",
                           "description": "The instance's secret key (publish, customer and status APIs)."},
        "beamsToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                       "description": ("A Beams Token: an HS256 JWT signed with the instance's secret key, "
                                       "`sub` the user id, `iss` `https://<instance id>.pushnotifications."
                                       "pusher.com`, `exp` in the future (the server SDKs' generateToken).")},
    }


def schemas() -> dict[str, Json]:
    platform_object: Json = {"type": "object", "description": "Passed through to the push gateway as Beams does."}
    publish_common: Json = {
        "apns": {**platform_object, "description": "The APNs payload (`aps`, `data`)."},
        "fcm": {**platform_object, "properties": {
            "time_to_live": {"type": "integer", "minimum": 0, "maximum": MAX_TIME_TO_LIVE}}},
        "web": {**platform_object, "properties": {
            "time_to_live": {"type": "integer", "minimum": 0, "maximum": MAX_TIME_TO_LIVE}}},
        "webhookUrl": {"type": "string", "format": "uri", "description": "http or https."},
    }
    any_platform = {"anyOf": [{"required": ["apns"]}, {"required": ["fcm"]}, {"required": ["web"]}]}
    return {
        "PublishToInterests": {
            "type": "object", "required": ["interests"], **any_platform,
            "properties": {"interests": {"type": "array", "items": INTEREST, "minItems": 1,
                                         "maxItems": validation.MAX_INTERESTS_PER_PUBLISH}, **publish_common},
        },
        "PublishToUsers": {
            "type": "object", "required": ["users"], **any_platform,
            "properties": {"users": {"type": "array", "minItems": 1, "maxItems": validation.MAX_USERS_PER_PUBLISH,
                                     "items": {"type": "string", "minLength": 1,
                                               "maxLength": validation.MAX_ID_LENGTH}},
                           **publish_common},
        },
        "PublishAccepted": {"type": "object", "required": ["publishId"],
                            "properties": {"publishId": {"type": "string", "minLength": 1}}},
        "PublishStatus": {
            "type": "object",
            "required": ["publishId", "status", "kind", "targets", "devices", "pending", "reports", "createdAt",
                         "startedAt", "finishedAt"],
            "properties": {
                "publishId": {"type": "string"},
                "status": {"enum": ["queued", "running", "done"]},
                "kind": {"enum": ["interests", "users"]},
                "targets": {"type": "array", "items": {"type": "string"}},
                "devices": {"type": "object", "description": "Recorded results, per outcome.",
                            "additionalProperties": {"type": "integer", "minimum": 0},
                            "propertyNames": {"enum": ["sent", "failed", "removed", "skipped"]}},
                "pending": {"type": "integer", "minimum": 0},
                "reports": {"type": "object", "required": ["delivery", "open"], "properties": {
                    "delivery": {"type": "integer", "minimum": 0}, "open": {"type": "integer", "minimum": 0}}},
                "createdAt": {"type": ["string", "null"], "format": "date-time"},
                "startedAt": {"type": ["string", "null"], "format": "date-time"},
                "finishedAt": {"type": ["string", "null"], "format": "date-time"},
            },
        },
        "DeviceRegistration": {
            "type": "object", "required": ["token"],
            "properties": {
                "token": {"type": "string", "minLength": 1, "maxLength": validation.MAX_TOKEN_LENGTH,
                          "description": ("APNs: the device token in hex; FCM: the registration token; web: "
                                          "the PushSubscription as JSON, base64-encoded.")},
                "metadata": {"type": ["object", "null"]},
                "bundleIdentifier": {"type": "string", "minLength": 1, "maxLength": 255,
                                     "description": "APNs only."},
                "knownPreviousClientIds": {"type": "array", "description": "FCM only: their interests carry over.",
                                           "items": {"type": "string", "minLength": 1,
                                                     "maxLength": validation.MAX_ID_LENGTH}},
            },
        },
        "DeviceRegistered": {
            "type": "object", "required": ["id", "initialInterestSet"],
            "properties": {"id": {"type": "string"}, "initialInterestSet": {"type": "array", "items": INTEREST}},
        },
        "Device": {
            "type": "object", "required": ["id", "userId", "metadata"],
            "properties": {"id": {"type": "string"}, "userId": {"type": ["string", "null"]},
                           "metadata": {"type": "object"}},
        },
        "InterestPage": {
            "type": "object", "required": ["interests", "responseMetadata"],
            "properties": {
                "interests": {"type": "array", "items": INTEREST},
                "responseMetadata": {"type": "object", "properties": {"nextCursor": {"type": "string"}}},
            },
        },
        "OutboxNotification": {
            "type": "object",
            "required": ["id", "publishId", "deviceId", "userId", "platform", "keptAt", "notification", "request"],
            "properties": {
                "id": {"type": "integer"},
                "publishId": {"type": "string"},
                "deviceId": {"type": "string"},
                "userId": {"type": ["string", "null"]},
                "platform": {"enum": ["web", "apns", "fcm"]},
                "keptAt": {"type": "string", "format": "date-time"},
                "notification": {"type": "object", "description": "What the device would show.", "properties": {
                    "title": {"type": ["string", "null"]}, "body": {"type": ["string", "null"]}}},
                "request": {
                    "type": "object", "required": ["method", "url", "headers", "body", "bodyEncoding"],
                    "description": "The gateway request as it would have been sent, credentials masked.",
                    "properties": {
                        "method": {"type": "string"},
                        "url": {"type": "string"},
                        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                        "body": {"type": "string"},
                        "bodyEncoding": {"enum": ["utf-8", "base64"]},
                        "payload": {"description": "Web Push only: the message before encryption."},
                    },
                },
            },
        },
        "ReportingEvent": {
            "type": "object", "required": ["event", "publishId", "deviceId", "timestampSecs"],
            "properties": {
                "event": {"enum": ["delivery", "open", "Delivery", "Open"],
                          "description": "`delivery` or `open`, in any case (web sends lowercase, iOS and Android "
                                         "capitalised)."},
                "publishId": {"type": "string", "minLength": 1, "maxLength": validation.MAX_ID_LENGTH},
                "deviceId": {"type": "string", "minLength": 1, "maxLength": validation.MAX_ID_LENGTH},
                "timestampSecs": {"type": "integer", "minimum": 0},
                "userId": {"type": ["string", "null"], "maxLength": validation.MAX_ID_LENGTH},
                "instanceId": {"type": ["string", "null"], "maxLength": validation.MAX_ID_LENGTH},
                "appInBackground": {"type": ["boolean", "null"]},
                "hasDisplayableContent": {"type": ["boolean", "null"]},
                "hasData": {"type": ["boolean", "null"]},
            },
        },
    }


def _op(tag: str, op_id: str, summary: str, params: list[Json], responses: dict[str, Json],
        errors: tuple[int, ...], **extra: object) -> Json:
    return {"tags": [tag], "operationId": op_id, "summary": summary, "parameters": params,
            "responses": {**responses, **beams_errors(*errors)}, **extra}


def _publish_paths() -> dict[str, Json]:
    base = "/publish_api/v1/instances/{instance_id}"
    accepted = {"200": json_response("Stored durably; workers deliver it.", ref("PublishAccepted"))}
    errors = (400, 401, 404, 422, 429, 503)

    def publish(op_id: str, schema: str, summary: str) -> Json:
        return _op("Beams publish API", op_id, summary, [INSTANCE_ID], accepted, errors, security=SECRET_KEY,
                   requestBody=json_body(ref(schema)))

    return {
        f"{base}/publishes": {"post": publish("beamsPublishLegacy", "PublishToInterests",
                                              "Publish to interests (the older path)")},
        f"{base}/publishes/interests": {"post": publish("beamsPublishToInterests", "PublishToInterests",
                                                        "Publish to devices subscribed to interests")},
        f"{base}/publishes/users": {"post": publish("beamsPublishToUsers", "PublishToUsers",
                                                    "Publish to Authenticated Users' devices")},
        f"{base}/publishes/{{publish_id}}": {"get": _op(
            "Beams publish API", "beamsPublishStatus", "What happened to a publish (a Tidings addition)",
            [INSTANCE_ID, path_param("publish_id", "The `publishId` the publish answered.")],
            {"200": json_response("Its delivery so far.", ref("PublishStatus"))}, (400, 401, 404, 503),
            security=SECRET_KEY)},
    }


def _outbox_paths() -> dict[str, Json]:
    return {"/outbox_api/v1/instances/{instance_id}/notifications": {"get": _op(
        "Beams outbox API", "beamsOutboxNotifications",
        "What an instance in outbox mode kept instead of sending, newest first (a Tidings addition)", [
            INSTANCE_ID,
            query_param("user_id", "Only the notifications for this user's devices.", {"type": "string",
                                                                                       "minLength": 1}),
            query_param("limit", "At most this many (default 100).",
                        {"type": "integer", "minimum": 1, "maximum": MAX_OUTBOX_LIMIT}),
        ], {"200": json_response("The kept notifications (docs/outbox.md).", {
            "type": "object", "required": ["notifications"],
            "properties": {"notifications": {"type": "array", "items": ref("OutboxNotification")}}})},
        (400, 401, 404, 503), security=SECRET_KEY)}}


def _user_paths() -> dict[str, Json]:
    out: dict[str, Json] = {}
    for api, op_id in (("customer_api", "beamsDeleteUser"), ("user_api", "beamsDeleteUserUserApi")):
        out[f"/{api}/v1/instances/{{instance_id}}/users/{{user_id}}"] = {"delete": _op(
            "Beams customer API", op_id, "Delete a user and all their devices",
            [INSTANCE_ID, path_param("user_id", "The user id, percent-encoded; it may contain `/`.")],
            {"200": empty_response("Deleted (or there was no such user).")}, (400, 401, 404, 503),
            security=SECRET_KEY)}
    return out


def _device_paths(base: str, prefix: str, suffix: str) -> dict[str, Json]:
    tag = "Beams device API"
    dev = f"{base}/devices/{{platform}}/{{device_id}}"
    device = [INSTANCE_ID, PLATFORM, DEVICE_ID]
    done = {"200": empty_response("Done.")}
    common = (400, 404, 503)

    def op(name: str, summary: str, params: list[Json], responses: dict[str, Json], errors: tuple[int, ...] = common,
           **extra: object) -> Json:
        return _op(tag, f"{prefix}{name}{suffix}", summary, params, responses, errors, security=[], **extra)

    interest = path_param("interest", "An interest name.", INTEREST)
    return {
        f"{base}/web-vapid-public-key": {"get": op(
            "VapidPublicKey", "The instance's VAPID public key (web push subscriptions)", [INSTANCE_ID],
            {"200": json_response("The key, base64url.", {
                "type": "object", "required": ["vapidPublicKey"],
                "properties": {"vapidPublicKey": {"type": "string", "minLength": 1}}})})},
        f"{base}/devices/{{platform}}": {"post": op(
            "Register", "Register a device", [INSTANCE_ID, PLATFORM],
            {"200": json_response("Registered.", ref("DeviceRegistered"))},
            requestBody=json_body(ref("DeviceRegistration")))},
        dev: {
            "get": op("Get", "A device's user and metadata", device,
                      {"200": json_response("The device.", ref("Device"))}),
            "delete": op("Delete", "Delete a device", device, {"200": empty_response("Deleted.")}),
        },
        f"{dev}/token": {"put": op(
            "SetToken", "Replace an FCM device's token", device, done,
            requestBody=json_body({"type": "object", "required": ["token"], "properties": {
                "token": {"type": "string", "minLength": 1, "maxLength": validation.MAX_TOKEN_LENGTH}}}))},
        f"{dev}/metadata": {"put": op(
            "SetMetadata", "Replace a device's metadata", device, done,
            requestBody=json_body({"type": "object", "description": "The SDK's `sdkVersion` and OS version."}))},
        f"{dev}/user": {"put": _op(
            tag, f"{prefix}SetUser{suffix}", "Tie the device to the user the Beams Token names", device, done,
            (400, 401, 403, 404, 422, 503), security=BEAMS_TOKEN)},
        f"{dev}/interests/{{interest}}": {
            "post": op("AddInterest", "Subscribe the device to an interest", [*device, interest], done),
            "delete": op("RemoveInterest", "Unsubscribe the device from an interest", [*device, interest], done),
        },
        f"{dev}/interests": {
            "put": op("SetInterests", "Replace the device's interests", device, done, requestBody=json_body({
                "type": "object", "required": ["interests"],
                "properties": {"interests": {"type": "array", "items": INTEREST,
                                             "maxItems": validation.MAX_INTERESTS_PER_DEVICE}}})),
            "get": op("ListInterests", "The device's interests, a page at a time", [
                *device,
                query_param("limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT}),
                query_param("cursor", "The `nextCursor` of the previous page."),
            ], {"200": json_response("A page.", ref("InterestPage"))}),
        },
    }


def paths() -> dict[str, Json]:
    report = {"/reporting_api/v2/instances/{instance_id}/events": {"post": _op(
        "Beams reporting API", "beamsReportEvent", "A device reports a notification delivered or opened",
        [INSTANCE_ID], {"200": empty_response("Recorded, or dropped if the publish did not target the device.")},
        (400, 404, 503), security=[], requestBody=json_body(ref("ReportingEvent")))}}
    return {
        **_publish_paths(),
        **_user_paths(),
        **_outbox_paths(),
        **report,
        **_device_paths("/device_api/v1/instances/{instance_id}", "beamsDevice", ""),
        # The same API without its prefix: the Android SDK's host override points here.
        **_device_paths("/instances/{instance_id}", "beamsDevice", "Unprefixed"),
    }

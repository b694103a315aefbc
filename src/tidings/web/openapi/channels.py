"""The Channels HTTP API (`/apps/{app_id}/...`, signed) and the WebSocket endpoint, as OpenAPI paths.

Handlers: web/api.py and web/ws.py; bodies and query rules: channels/api.py; signing: channels/httpauth.py.
"""

from __future__ import annotations

from tidings.channels.apps import AppLimits
from tidings.web.openapi.common import (
    TEXT,
    Json,
    channels_errors,
    json_body,
    json_response,
    path_param,
    query_param,
    ref,
)

TAG = "Channels HTTP API"
SECURITY: list[Json] = [{"channelsSignature": []}]
_LIMITS = AppLimits()  # the defaults; each app may set its own

APP_ID = path_param("app_id", "The app's id.")
CHANNEL = path_param("channel", "A channel name.", {"type": "string", "pattern": "^[-a-zA-Z0-9_=@,.;#]+$",
                                                    "examples": ["presence-room", "my-channel"]})
USER_ID = path_param("user_id", "The id a user signed in with (`pusher:signin`).")


def signature_scheme() -> Json:
    return {
        "type": "apiKey",
        "in": "query",
        "name": "auth_signature",
        "description": (
            "Every request under /apps/{app_id}/ is signed as the Pusher server SDKs do, with query parameters "
            "`auth_key` (the app key), `auth_timestamp` (Unix seconds, within 600 s of the server's clock), "
            "`auth_version=1.0`, `body_md5` (hex MD5 of the body, when there is one) and `auth_signature`: hex "
            "HMAC-SHA256, keyed with the app secret, of `METHOD\\nPATH\\nQUERY`, QUERY being every other "
            "parameter with lowercased keys, sorted, joined as `k=v&...` without URL-escaping. A parameter given "
            "twice is refused. docs/protocol/channels.md section 4.1."
        ),
    }


def schemas() -> dict[str, Json]:
    attributes: Json = {
        "type": "object",
        "description": "The figures asked for with `info`, cluster-wide.",
        "properties": {
            "user_count": {"type": "integer", "minimum": 0, "description": "Presence channels only."},
            "subscription_count": {"type": "integer", "minimum": 0},
        },
        "additionalProperties": False,
    }
    event: Json = {
        "type": "object",
        "required": ["name", "data"],
        "oneOf": [{"required": ["channels"]}, {"required": ["channel"]}],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": _LIMITS.max_event_name_length},
            "data": {"description": "A string sent as is, or any JSON value, sent encoded as a string.",
                     "maxLength": _LIMITS.max_event_data_bytes},
            "channels": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
                         "maxItems": _LIMITS.max_channels_per_event,
                         "description": "The channels to send to; give this or `channel`."},
            "channel": {"type": "string", "minLength": 1, "description": "One channel; give this or `channels`."},
            "socket_id": {"type": ["string", "null"], "pattern": "^[0-9]+\\.[0-9]+$",
                          "description": "A connection to leave out (the sender's own)."},
            "info": {"type": ["string", "null"],
                     "description": "Comma-separated: `user_count`, `subscription_count`."},
        },
        "description": (f"Limits shown are the defaults (an app may have its own): event data up to "
                        f"{_LIMITS.max_event_data_bytes} bytes, names up to {_LIMITS.max_channel_name_length} "
                        "characters of `[-a-zA-Z0-9_=@,.;]`. An encrypted channel takes an event alone."),
    }
    return {
        "ChannelAttributes": attributes,
        "TriggerEvent": event,
        "TriggerResult": {
            "type": "object",
            "description": "Empty unless `info` was asked for.",
            "properties": {"channels": {"type": "object", "additionalProperties": ref("ChannelAttributes")}},
            "additionalProperties": False,
        },
        "BatchResult": {
            "type": "object",
            "description": "Empty unless an event asked for `info`; then one entry per event, in order.",
            "properties": {"batch": {"type": "array", "items": ref("ChannelAttributes")}},
            "additionalProperties": False,
        },
        "ChannelList": {
            "type": "object",
            "required": ["channels"],
            "properties": {"channels": {"type": "object", "additionalProperties": ref("ChannelAttributes")}},
        },
        "ChannelInfo": {
            "type": "object",
            "required": ["occupied"],
            "properties": {
                "occupied": {"type": "boolean"},
                "user_count": {"type": "integer", "minimum": 0},
                "subscription_count": {"type": "integer", "minimum": 0},
                "cache": {"type": "object", "required": ["data", "ttl"], "description": "The cached event, if any.",
                          "properties": {"data": {"type": "string"}, "ttl": {"type": "integer", "minimum": 0}}},
            },
        },
        "UserList": {
            "type": "object",
            "required": ["users"],
            "properties": {"users": {"type": "array", "items": {
                "type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}}},
        },
        "Empty": {"type": "object", "maxProperties": 0},
    }


def _op(op_id: str, summary: str, params: list[Json], ok: Json, errors: tuple[int, ...], **extra: object) -> Json:
    return {"tags": [TAG], "operationId": op_id, "summary": summary, "security": SECURITY,
            "parameters": params, "responses": {"200": ok, **channels_errors(*errors)}, **extra}


_ALL = (400, 401, 403, 404, 413, 503)
_READ = (400, 401, 403, 404, 503)


def paths() -> dict[str, Json]:
    info_trigger = "`info` in the body asks for figures of each channel."
    terminate = json_body({"type": "object"}, required=False, description="Ignored; SDKs send `{}`.")
    return {
        "/apps/{app_id}/events": {"post": _op(
            "channelsTrigger", "Trigger an event on one or more channels", [APP_ID],
            json_response(f"Delivered. {info_trigger}", ref("TriggerResult")), _ALL,
            requestBody=json_body(ref("TriggerEvent")))},
        "/apps/{app_id}/batch_events": {"post": _op(
            "channelsTriggerBatch", "Trigger several events", [APP_ID],
            json_response("Every event delivered.", ref("BatchResult")), _ALL,
            requestBody=json_body({
                "type": "object", "required": ["batch"],
                "properties": {"batch": {"type": "array", "items": ref("TriggerEvent"), "minItems": 1,
                                         "maxItems": _LIMITS.max_batch_size}}}))},
        "/apps/{app_id}/channels": {"get": _op(
            "channelsList", "List occupied channels", [
                APP_ID,
                query_param("filter_by_prefix", "Only channels whose name starts with this."),
                query_param("info", "`user_count`, only with a `presence-` prefix filter."),
            ], json_response("The occupied channels.", ref("ChannelList")), _READ)},
        "/apps/{app_id}/channels/{channel}": {"get": _op(
            "channelsGet", "Describe one channel", [
                APP_ID, CHANNEL,
                query_param("info", "Comma-separated: `user_count` (presence), `subscription_count`, "
                                    "`cache` (cache channels)."),
            ], json_response("The channel's state.", ref("ChannelInfo")), _READ)},
        "/apps/{app_id}/channels/{channel}/users": {"get": _op(
            "channelsPresenceUsers", "List the users on a presence channel", [APP_ID, CHANNEL],
            json_response("The members' ids.", ref("UserList")), _READ)},
        "/apps/{app_id}/users/{user_id}/terminate_connections": {"post": _op(
            "channelsTerminateUser", "Close every connection of a signed-in user", [APP_ID, USER_ID],
            json_response("Done (on every node).", ref("Empty")), _ALL, requestBody=terminate)},
        "/users/{user_id}/terminate_connections": {"post": _op(
            "channelsTerminateUserUnprefixed",
            "As /apps/{app_id}/users/{user_id}/terminate_connections, the app named by `auth_key`",
            [USER_ID], json_response("Done (on every node).", ref("Empty")), _ALL, requestBody=terminate,
            description="The Python SDK posts here without the /apps prefix.")},
        "/app/{key}": {"get": {
            "tags": ["Channels WebSocket"],
            "operationId": "channelsWebSocket",
            "summary": "Open a Channels connection (Pusher protocol 7)",
            "description": ("A WebSocket upgrade, not a REST call: the Pusher client SDKs connect here. An unknown "
                            "or disabled app key still gets the 101, then a `pusher:error` and a close "
                            "(code 4001 or 4003). docs/protocol/channels.md."),
            "parameters": [
                path_param("key", "The app key."),
                query_param("protocol", "The protocol version, 7."),
                query_param("client", "The client library's name."),
                query_param("version", "The client library's version."),
            ],
            "responses": {
                "101": {"description": "Switching Protocols: the WebSocket is open."},
                "400": {"description": "Not a valid WebSocket upgrade.", "content": {TEXT: {"schema": {
                    "type": "string"}}}},
                "426": {"description": "No `Upgrade: websocket` header.", "content": {TEXT: {"schema": {
                    "type": "string"}}}},
            },
        }},
    }


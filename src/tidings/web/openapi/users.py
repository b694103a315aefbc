"""The users API of the Channels HTTP API (web/users_api.py, docs/users.md) as OpenAPI paths: who is online,
one user's presence, a user's watchlist replaced live. Signed like the rest (`channelsSignature`)."""

from __future__ import annotations

from tidings.channels.signin import MAX_USER_ID
from tidings.web.openapi.channels import APP_ID, SECURITY, TAG
from tidings.web.openapi.common import Json, channels_errors, json_body, json_response, path_param, query_param, ref

USER_ID = path_param("user_id", "A sign-in user id.",
                     {"type": "string", "pattern": f"^[-a-zA-Z0-9_=@,.;]{{1,{MAX_USER_ID}}}$"})
_ERRORS = (400, 401, 403, 404, 413, 503)


def schemas() -> dict[str, Json]:
    return {
        "OnlineUsers": {
            "type": "object", "required": ["users", "next_cursor", "total"],
            "properties": {
                "users": {"type": "array", "items": {
                    "type": "object", "required": ["id", "connections"],
                    "properties": {"id": {"type": "string"}, "connections": {"type": "integer", "minimum": 1}}}},
                "next_cursor": {"type": ["string", "null"], "description": "Pass it back for the next page."},
                "total": {"type": "integer", "minimum": 0, "description": "Signed-in users across the cluster."},
            },
        },
        "UserPresence": {
            "type": "object", "required": ["id", "online", "connections", "since"],
            "properties": {
                "id": {"type": "string"},
                "online": {"type": "boolean"},
                "connections": {"type": "integer", "minimum": 0},
                "since": {"type": ["number", "null"], "description": "Unix seconds: signed in since."},
            },
        },
        "Watchlist": {
            "type": "object", "required": ["watchlist"],
            "properties": {"watchlist": {"type": "array", "items": {"type": "string", "minLength": 1},
                                         "description": "At most the app's max_watchlist_size ids."}},
        },
    }


def _op(op_id: str, summary: str, params: list[Json], ok: Json, **extra: object) -> Json:
    return {"tags": [TAG], "operationId": op_id, "summary": summary, "security": SECURITY,
            "parameters": params, "responses": {"200": ok, **channels_errors(*_ERRORS)}, **extra}


def paths() -> dict[str, Json]:
    watchlist = json_body(ref("Watchlist"))
    replaced = json_response("Replaced on every connection of the user.", ref("Empty"))
    return {
        "/apps/{app_id}/users": {"get": _op(
            "channelsOnlineUsers", "The app's signed-in users, a page at a time", [
                APP_ID,
                query_param("cursor", "The `next_cursor` of the previous page."),
                query_param("limit", "Page size (100 when only `cursor` is given; all users when neither is).",
                            {"type": "integer", "minimum": 1, "maximum": 1000}),
            ], json_response("A page of users.", ref("OnlineUsers")))},
        "/apps/{app_id}/users/{user_id}": {"get": _op(
            "channelsUserPresence", "Whether a user is online, on how many connections, since when",
            [APP_ID, USER_ID], json_response("The user's presence.", ref("UserPresence")))},
        "/apps/{app_id}/users/{user_id}/watchlist": {"put": _op(
            "channelsReplaceWatchlist", "Replace a signed-in user's watchlist, live",
            [APP_ID, USER_ID], replaced, requestBody=watchlist)},
        "/users/{user_id}/watchlist": {"put": _op(
            "channelsReplaceWatchlistUnprefixed",
            "As /apps/{app_id}/users/{user_id}/watchlist, the app named by `auth_key`",
            [USER_ID], replaced, requestBody=watchlist)},
    }

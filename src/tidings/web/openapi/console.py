"""The live console (console/web.py, issue 13) as OpenAPI paths: login, pages, the JSON and Server-Sent Events API.

Served when a console token is configured (the embedded default generates one). Pages redirect to the login
without a session; API calls answer 401, or 429 after too many wrong tokens from one address.
"""

from __future__ import annotations

from tidings.console.auth import COOKIE
from tidings.console.web import MAX_TIMELINE
from tidings.web.openapi.common import Json, channels_errors, json_response, path_param, query_param

TAG = "Console"
SECURITY: list[Json] = [{"consoleSession": []}, {"consoleToken": []}]
_HTML = {"text/html": {"schema": {"type": "string"}}}
_TO_LOGIN = {"description": "Not signed in: to /console/login.",
             "headers": {"Location": {"schema": {"type": "string"}}}}


def security_schemes() -> dict[str, Json]:
    return {
        "consoleSession": {"type": "apiKey", "in": "cookie", "name": COOKIE,
                           "description": "The session cookie POST /console/login sets."},
        "consoleToken": {"type": "http", "scheme": "bearer",
                         "description": "The console token (TIDINGS_CONSOLE_TOKEN, or <data_dir>/console-token)."},
    }


def _page(op_id: str, summary: str, params: list[Json], scoped: bool) -> Json:
    responses: dict[str, Json] = {"200": {"description": "The page.", "content": _HTML}, "303": _TO_LOGIN,
                                  **channels_errors(401, 429)}  # a wrong bearer token is refused, not redirected
    if scoped:
        responses.update(channels_errors(404, 503))
    return {"tags": [TAG], "operationId": op_id, "summary": summary, "security": SECURITY, "parameters": params,
            "responses": responses}


def _api(op_id: str, summary: str, params: list[Json], ok: Json) -> Json:
    return {"tags": [TAG], "operationId": op_id, "summary": summary, "security": SECURITY, "parameters": params,
            "responses": {"200": ok, **channels_errors(400, 401, 404, 429, 503)}}


def paths() -> dict[str, Json]:
    app, inst = path_param("app_id", "An app id."), path_param("instance_id", "A Beams instance id.")
    user = path_param("user_id", "A user id.")
    filters = [query_param(name, f"Only records whose {name} is this.") for name in ("user", "channel", "event",
                                                                                        "kind")]
    limit = query_param("limit", "At most this many, newest first (200 by default).",
                        {"type": "integer", "minimum": 1, "maximum": MAX_TIMELINE})
    stream = {"description": "Server-Sent Events: `data: <record JSON>` per event, comments as keep-alives.",
              "content": {"text/event-stream": {"schema": {"type": "string"}}}}
    timeline = json_response("The user's timeline across products.", {
        "type": "object", "required": ["product", "user_id", "events"],
        "properties": {"product": {"enum": ["channels", "beams"]}, "user_id": {"type": "string"},
                       "events": {"type": "array", "items": {"type": "object"}}}})
    seen = {"description": "To /console (signed in).", "headers": {"Location": {"schema": {"type": "string"}}}}
    return {
        "/console/login": {
            "get": {"tags": [TAG], "operationId": "consoleLoginPage", "summary": "The login form", "security": [],
                    "responses": {"200": {"description": "The form.", "content": _HTML}, "303": seen}},
            "post": {"tags": [TAG], "operationId": "consoleLogin", "summary": "Sign in with the console token",
                     "security": [],
                     "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
                         "schema": {"type": "object", "properties": {"token": {"type": "string"}}}}}},
                     "responses": {"303": {**seen, "description": "Signed in: the session cookie is set."},
                                   "401": {"description": "Wrong token: the form again.", "content": _HTML},
                                   **channels_errors(400, 429)}},
        },
        "/console/logout": {"post": {
            "tags": [TAG], "operationId": "consoleLogout", "summary": "Clear the session cookie", "security": [],
            "responses": {"303": {"description": "To the login.",
                                  "headers": {"Location": {"schema": {"type": "string"}}}}}}},
        "/console/static/{filename}": {"get": {
            "tags": [TAG], "operationId": "consoleStatic", "summary": "The console's script and stylesheet",
            "security": [], "parameters": [path_param("filename", "A file of console/static/.", {
                "type": "string", "examples": ["console.js", "console.css"]})],
            "responses": {"200": {"description": "The file."}, "403": {"description": "Not a file to serve."},
                          "404": {"description": "No such file."}}}},
        "/console": {"get": _page("consolePage", "The console: apps and instances", [], False)},
        "/console/": {"get": _page("consolePageSlash", "The console (trailing slash)", [], False)},
        "/console/apps/{app_id}": {"get": _page("consoleAppPage", "An app's live events", [app], True)},
        "/console/apps/{app_id}/users/{user_id}": {"get": _page(
            "consoleAppUserPage", "A user's timeline in an app", [app, user], True)},
        "/console/instances/{instance_id}": {"get": _page(
            "consoleInstancePage", "An instance's live events", [inst], True)},
        "/console/instances/{instance_id}/users/{user_id}": {"get": _page(
            "consoleInstanceUserPage", "A user's timeline in an instance", [inst, user], True)},
        "/console/api/scopes": {"get": _api("consoleScopes", "Apps and instances (never a secret)", [],
                                            json_response("Apps and instances.", {
                                                "type": "object", "required": ["apps", "instances"],
                                                "properties": {"apps": {"type": "array"},
                                                               "instances": {"type": "array"}}}))},
        "/console/api/apps/{app_id}/stream": {"get": _api(
            "consoleAppStream", "An app's events as they happen (with its linked instance's)", [app, *filters],
            stream)},
        "/console/api/instances/{instance_id}/stream": {"get": _api(
            "consoleInstanceStream", "An instance's events as they happen", [inst, *filters], stream)},
        "/console/api/apps/{app_id}/users/{user_id}/timeline": {"get": _api(
            "consoleAppTimeline", "A user's recent events in an app", [app, user, limit], timeline)},
        "/console/api/instances/{instance_id}/users/{user_id}/timeline": {"get": _api(
            "consoleInstanceTimeline", "A user's recent events in an instance", [inst, user, limit], timeline)},
    }

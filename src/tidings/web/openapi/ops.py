"""Tidings' own endpoints as OpenAPI paths: health, readiness, metrics, this description, and the demo.

Handlers: web/health.py, web/openapi/__init__.py, web/demo/ (served only with `TIDINGS_DEMO=true`).
"""

from __future__ import annotations

from tidings.channels.signin import MAX_USER_ID
from tidings.web.demo import MAX_MESSAGE_CHARS
from tidings.web.openapi.common import (
    JSON,
    TEXT,
    Json,
    channels_errors,
    json_response,
    path_param,
    query_param,
)

TAG = "Operations"
DEMO_TAG = "Demo (development only)"
NAME_CHARS = "[-a-zA-Z0-9_=@,.;]"  # channels/names.py: a user id becomes part of a channel name
_STATUS = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}


def _form(fields: dict[str, Json], required: list[str]) -> Json:
    schema = {"type": "object", "required": required, "properties": fields}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _demo() -> dict[str, Json]:
    def op(op_id: str, summary: str, **rest: object) -> Json:
        return {"tags": [DEMO_TAG], "operationId": op_id, "summary": summary, "security": [], **rest}

    key = "The app key; the first app when absent."
    user_id = {"type": "string", "pattern": f"^{NAME_CHARS}{{1,{MAX_USER_ID}}}$"}

    def text(description: str, **schema: object) -> Json:
        return {"type": "string", "description": description, **schema}

    refusals = channels_errors(400, 403, 404, 503)
    return {
        "/demo": {"get": op("demoPage", "The Authenticated Users demo page", parameters=[query_param("key", key)],
                            responses={"200": {"description": "The page.", "content": {"text/html": {
                                "schema": {"type": "string"}}}}})},
        "/demo/": {"get": op("demoSlash", "Redirects to /demo", responses={
            "302": {"description": "To /demo.", "headers": {"Location": {"schema": {"type": "string"}}}}})},
        "/demo/static/{filename}": {"get": op(
            "demoStatic", "The page's script, stylesheet and pusher-js",
            parameters=[path_param("filename", "A file of web/demo/static/.",
                                   {"type": "string", "examples": ["demo.js", "demo.css", "pusher.min.js"]})],
            responses={"200": {"description": "The file."},
                       "403": {"description": "Not a file that may be served."},
                       "404": {"description": "No such file."}})},
        "/demo/user-auth": {"post": op(
            "demoUserAuth", "pusher-js's user authentication: signs in ANY user id (development only)",
            requestBody=_form({"key": text(key), "socket_id": text("The connection's socket id.",
                                                                   pattern="^[0-9]+\\.[0-9]+$"),
                               "user_id": {**user_id, "description": "Who to sign in as."},
                               "watchlist": text("Comma-separated user ids.")}, ["socket_id", "user_id"]),
            responses={"200": json_response("What `pusher:signin` takes.", {
                "type": "object", "required": ["auth", "user_data"],
                "properties": {"auth": {"type": "string"}, "user_data": {"type": "string"}}}), **refusals})},
        "/demo/send": {"post": op(
            "demoSend", "Send `demo-message` to a user (development only)",
            requestBody=_form({"key": text(key), "user_id": {**user_id, "description": "The recipient."},
                               "message": text("The text.", minLength=1, maxLength=MAX_MESSAGE_CHARS),
                               "from": text("The sender's name.")}, ["user_id", "message"]),
            responses={"200": json_response("Sent.", {
                "type": "object", "required": ["delivered"],
                "properties": {"delivered": {"type": "integer", "minimum": 0,
                                             "description": "Connections on this node it was written to."}}}),
                       **refusals})},
    }


def paths() -> dict[str, Json]:
    def op(op_id: str, summary: str, responses: dict[str, Json]) -> Json:
        return {"tags": [TAG], "operationId": op_id, "summary": summary, "security": [], "responses": responses}

    return {
        "/health": {"get": op("health", "Liveness: the process answers", {
            "200": json_response("Alive.", {**_STATUS, "properties": {"status": {"const": "ok"}}})})},
        "/ready": {"get": op("ready", "Readiness: storage and Redis answer, and the server is not stopping", {
            "200": json_response("Ready.", {**_STATUS, "properties": {"status": {"const": "ready"}}}),
            "503": json_response("Not ready: `status` says why.", _STATUS),
        })},
        "/metrics": {"get": op("metrics", "Prometheus metrics", {
            "200": {"description": "The text exposition format 0.0.4.", "content": {TEXT: {"schema": {
                "type": "string"}}}}})},
        "/openapi.json": {"get": op("openapi", "This description (OpenAPI 3.1)", {
            "200": {"description": "The document.", "content": {JSON: {"schema": {"type": "object"}}}}})},
        **_demo(),
    }


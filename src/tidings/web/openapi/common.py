"""Pieces every part of the OpenAPI description shares: JSON bodies, parameters, the two error formats.

Each product answers errors in its own format (web/errors.py): the Channels HTTP API and Tidings' own
endpoints `{"error": message}`, the Beams APIs `{"error": title, "description": message}`, the title being
the one BeamsErrorKind (errors.py) gives that status. The titles are read from that table, so a new kind
shows up here without an edit.
"""

from __future__ import annotations

from typing import Any

from tidings.errors import BeamsErrorKind

Json = dict[str, Any]

JSON = "application/json"
TEXT = "text/plain"

CHANNELS_ERROR = "ChannelsError"
BEAMS_ERROR = "BeamsError"

# The Channels HTTP API and the operational endpoints: what each refusal status means there.
CHANNELS_STATUS = {
    400: "The request is malformed: a body, a channel name or a query parameter broke its rule.",
    401: "The signature is missing, wrong, or older than ten minutes (see the `channelsSignature` scheme); "
         "for the console, no session cookie or a wrong token.",
    403: "The app is disabled.",
    404: "No app has this id.",
    413: "The request body, or an event's data, is larger than the app allows.",
    429: "Too many wrong console tokens from this address: wait a minute.",
    503: "The database or Redis did not answer; nothing was delivered, retry later.",
}

BEAMS_STATUS = {
    400: "The request is malformed: the path, the content type, the body or a field broke its rule.",
    401: "The credentials are missing or wrong.",
    403: "The Beams Token was issued for another instance.",
    404: "No such instance, device or publish (the title says which).",
    422: "The body is JSON but against the schema: the description says which field.",
    429: "More requests per second than the instance allows.",
    503: "The database did not answer (or a Web Push endpoint's host did not resolve in time); retry later.",
}


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: Json, *, required: bool = True, description: str | None = None) -> Json:
    body: Json = {"required": required, "content": {JSON: {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def json_response(description: str, schema: Json) -> Json:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def empty_response(description: str) -> Json:
    """A 2xx with no body (the Beams device calls: SDKs accept any 2xx, some parse a body, so send none)."""
    return {"description": description}


def path_param(name: str, description: str, schema: Json | None = None) -> Json:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string", "minLength": 1}}


def query_param(name: str, description: str, schema: Json | None = None) -> Json:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def channels_errors(*statuses: int) -> dict[str, Json]:
    return {str(s): {"$ref": f"#/components/responses/Channels{s}"} for s in statuses}


def beams_errors(*statuses: int) -> dict[str, Json]:
    return {str(s): {"$ref": f"#/components/responses/Beams{s}"} for s in statuses}


def error_responses() -> dict[str, Json]:
    """Every refusal status of each product once; a Beams one lists the titles BeamsErrorKind gives it."""
    out: dict[str, Json] = {}
    for status, text in CHANNELS_STATUS.items():
        out[f"Channels{status}"] = {"description": text, "content": {JSON: {"schema": ref(CHANNELS_ERROR)}}}
    for status, text in BEAMS_STATUS.items():
        titles = sorted({kind.title for kind in BeamsErrorKind if kind.status == status})
        schema: Json = {"allOf": [ref(BEAMS_ERROR), {"properties": {"error": {"enum": titles}}}]}
        out[f"Beams{status}"] = {"description": text, "content": {JSON: {"schema": schema}}}
    return out


def error_schemas() -> dict[str, Json]:
    return {
        CHANNELS_ERROR: {
            "type": "object",
            "description": "A refused Channels HTTP API (or operational) request.",
            "required": ["error"],
            "properties": {"error": {"type": "string", "description": "What was wrong, for a person to read."}},
        },
        BEAMS_ERROR: {
            "type": "object",
            "description": "A refused Beams request, as the Beams SDKs read it: both fields are never empty.",
            "required": ["error", "description"],
            "properties": {
                "error": {"type": "string", "minLength": 1, "description": "The title of the kind of refusal."},
                "description": {"type": "string", "minLength": 1, "description": "What was wrong."},
            },
        },
    }

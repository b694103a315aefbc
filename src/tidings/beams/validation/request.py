"""What every Beams request must be, whichever API: a path that names something storable, a JSON object body.

Bodies are parsed with orjson, which refuses what storage and push payloads could not carry later: invalid
UTF-8, lone surrogates, NaN/Infinity; `load_object` then refuses NUL characters (PostgreSQL keeps none, in text
or JSONB) and nesting deeper than MAX_JSON_DEPTH. Every refusal here is 400 "Bad request", the real service's.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard
from urllib.parse import unquote_to_bytes, urlsplit

import orjson

from tidings.errors import BeamsError, BeamsErrorKind

# Nesting of any JSON body (publish payloads, metadata). orjson encodes at most 254 levels and a push payload
# wraps the customer's object a few levels deeper; real payloads use a handful.
MAX_JSON_DEPTH = 64

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def check_path(raw_path: str) -> None:
    """A request path as sent (still percent-encoded), before any id is taken from it: every escape is `%`
    and two hex digits, and the decoded path is UTF-8 text without NUL (no database keeps NUL in text).

    Ids in Beams paths are opaque, so a path failing this names nothing that could exist: 400 for every route.
    """
    if "%" in raw_path and _BAD_ESCAPE.search(raw_path):
        raise bad_request("The path has a malformed percent-escape (`%` must be followed by two hex digits).")
    try:
        decoded = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeError:  # decoded bytes that are not UTF-8, or lone surrogates in the path as received
        raise bad_request("The path is not UTF-8 text once percent-decoded.") from None
    if "\x00" in decoded:
        raise bad_request("The path must not contain NUL characters (%00).")


def check_content_type(content_type: str | None) -> None:
    """Only application/json, any parameters (charset) allowed. Call it only when there is a body."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise BeamsError(BeamsErrorKind.INVALID_CONTENT_TYPE, "Only `application/json` is supported.")


def load_object(body: bytes, max_size: int | None = None) -> dict[str, Any]:
    if max_size is not None and len(body) > max_size:
        raise bad_request(f"Request body too large, max {max_size} bytes")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise bad_request("Failed to read body as a JSON object.")
    _check_storable(value)
    return value


def _check_storable(value: dict[str, Any]) -> None:
    """Refuse a parsed body holding NUL in any key or string, or nested deeper than MAX_JSON_DEPTH.

    Iterative, so a deep body costs a list, not Python stack frames.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise _nul_in_body()
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise bad_request(f"The JSON body is nested too deep (max {MAX_JSON_DEPTH} levels).")
            if isinstance(item, dict):
                if any("\x00" in key for key in item):
                    raise _nul_in_body()
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)


def _nul_in_body() -> BeamsError:
    return bad_request("The JSON body must not contain NUL characters (\\u0000).")


def bad_request(description: str) -> BeamsError:
    return BeamsError(BeamsErrorKind.BAD_REQUEST, description)


def is_http_url(value: object) -> TypeGuard[str]:
    # urlsplit silently drops tabs and newlines (WHATWG); refuse them, and spaces, before they reach an HTTP client.
    if not isinstance(value, str) or len(value) > 2048 or not value.isprintable() or " " in value:
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return False


def is_int_between(value: object, low: int, high: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def show(value: object) -> str:
    """`value` quoted for an error description, cut short: descriptions must stay small."""
    text = repr(value)
    return text if len(text) <= 64 else text[:60] + "..."

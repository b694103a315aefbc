"""What every Beams request must be: a JSON body, and nothing a database cannot keep.

PostgreSQL refuses NUL in text and in JSONB (`\\u0000`), and orjson encodes at most 254 levels: either used to
surface as a 500. Every body parser goes through `load_object`, every Beams path through `check_path`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
import pytest

from tests.beams.helpers import refused
from tidings.beams.models import Platform
from tidings.beams.tokens import issue, verify
from tidings.beams.validation import (
    MAX_ID_LENGTH,
    MAX_INTEREST_SET_BODY,
    MAX_INTERESTS_PER_DEVICE,
    MAX_JSON_DEPTH,
    check_content_type,
    check_path,
    check_user_id,
    parse_interest_set,
    parse_metadata,
    parse_publish,
    parse_registration,
    parse_reporting_event,
)
from tidings.providers import device_tokens

WEB = {"web": {"notification": {"title": "hi"}}}
REPORT = {"event": "open", "publishId": "pubid-1", "deviceId": "web-1", "timestampSecs": 1}


def nested(levels: int) -> dict[str, Any]:
    """A JSON object `levels` deep, counting itself."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def body(value: Any) -> bytes:
    return json.dumps(value).encode()  # json, not orjson: orjson cannot write what is nested 300 deep


@pytest.mark.parametrize("parse", [
    lambda b: parse_publish(b, "application/json", "users"),
    lambda b: parse_registration(Platform.FCM, b, device_tokens.rule(Platform.FCM)),
    parse_metadata,
    parse_interest_set,
    parse_reporting_event,
], ids=["publish", "registration", "metadata", "interest-set", "report"])
@pytest.mark.parametrize("request_body", [
    {"users": ["a\x00b"], **WEB, "token": "t", "interests": ["x"], **REPORT},
    {"users": ["a"], "web": {"notification": {"title": "\x00"}}, "token": "t", "interests": ["x"], **REPORT},
    {"users": ["a"], **WEB, "token": "t", "interests": ["x"], **REPORT, "metadata": {"k\x00": 1}},
    {"users": ["a"], **WEB, "token": "t", "interests": ["x"], **REPORT, "extra": [["\x00"]]},
], ids=["in-a-target", "in-a-payload-value", "in-a-key", "in-a-list"])
def test_nul_anywhere_in_a_body_is_a_400(parse: Any, request_body: dict[str, Any]) -> None:
    error = refused(400, "Bad request", parse, body(request_body))
    assert "NUL" in error.description


def test_nesting_is_accepted_up_to_the_limit_and_refused_beyond() -> None:
    parse_metadata(body(nested(MAX_JSON_DEPTH)))
    parse_publish(body({"users": ["a"], "web": {"data": nested(MAX_JSON_DEPTH - 2)}}), "application/json", "users")

    for deep in (MAX_JSON_DEPTH + 1, 300):
        error = refused(400, "Bad request", parse_metadata, body(nested(deep)))
        assert "nested too deep" in error.description
    refused(400, "Bad request", parse_publish,
            body({"users": ["a"], "web": {"data": nested(300)}}), "application/json", "users")
    deep_list: Any = []
    for _ in range(300):
        deep_list = [deep_list]
    refused(400, "Bad request", parse_reporting_event, body({**REPORT, "x": deep_list}))


def test_the_largest_interest_set_fits_the_body_limit() -> None:
    names = [f"{n:04d}" + "i" * (MAX_ID_LENGTH - 4) for n in range(MAX_INTERESTS_PER_DEVICE)]
    compact = body({"interests": names})
    spaced = orjson.dumps({"interests": names}, option=orjson.OPT_INDENT_2)  # a pretty-printing encoder

    assert len(compact) < len(spaced) <= MAX_INTEREST_SET_BODY
    assert parse_interest_set(spaced) == names


@pytest.mark.parametrize("path", [
    "/customer_api/v1/instances/i/users/alice",
    "/customer_api/v1/instances/i/users/u%201/%C3%A9",  # what the Python SDK sends for "u 1/é"
    "/customer_api/v1/instances/i/users/a+b%2Fc",
    "/device_api/v1/instances/i/devices/web/web-1/interests/a%2C%3B%3D%40",
])
def test_paths_accepted(path: str) -> None:
    check_path(path)


@pytest.mark.parametrize("path", [
    "/customer_api/v1/instances/i/users/%ff",  # not UTF-8
    "/customer_api/v1/instances/i/users/%ed%a0%80",  # a UTF-16 surrogate, UTF-8 encoded
    "/customer_api/v1/instances/i/users/bob%e2%82",  # a truncated sequence
    "/customer_api/v1/instances/i/users/%zz",
    "/customer_api/v1/instances/i/users/bob%",
    "/customer_api/v1/instances/i/users/bob%4",
    "/customer_api/v1/instances/i/users/a%00b",
    "/device_api/v1/instances/%00/web-vapid-public-key",
    "/customer_api/v1/instances/i/users/\udcff",  # an undecodable byte as received
])
def test_paths_refused(path: str) -> None:
    refused(400, "Bad request", check_path, path)


def test_a_user_id_with_nul_is_refused() -> None:
    refused(400, "Bad request", check_user_id, "al\x00ice")


def test_a_beams_token_whose_subject_holds_nul_is_refused() -> None:
    now = time.time()
    secret = "S" * 64
    token = issue("inst", secret, "al\x00ice", now=now)
    refused(400, "Bad Request", verify, token, instance_id="inst", secret_key=secret, now=now)


def test_content_type() -> None:
    check_content_type("application/json;charset=UTF-8")
    refused(400, "Invalid content type", check_content_type, "application/jsonp")

"""The reporting API's events (docs/protocol/beams.md §6)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.beams.helpers import refused
from tidings.beams.validation import ReportingEvent, parse_reporting_event
from tidings.errors import BeamsError


def body(value: Any) -> bytes:
    return orjson.dumps(value)


WEB_EVENT = {
    "event": "delivery",
    "publishId": "pubid-1",
    "deviceId": "web-1",
    "userId": None,
    "timestampSecs": 1700000000,
}


class TestReportingEvent:
    def test_web_shape(self) -> None:
        assert parse_reporting_event(body(WEB_EVENT)) == ReportingEvent("delivery", "pubid-1", "web-1", 1700000000)

    @pytest.mark.parametrize(("sent", "kind"), [("Delivery", "delivery"), ("Open", "open"), ("OPEN", "open")])
    def test_mobile_shape_any_case(self, sent: str, kind: str) -> None:
        request = {
            "event": sent,
            "instanceId": "inst",
            "publishId": "pubid-2",
            "deviceId": "apns-1",
            "userId": "alice",
            "timestampSecs": 1,
            "appInBackground": True,
            "hasDisplayableContent": False,
            "hasData": True,
        }
        assert parse_reporting_event(body(request)) == ReportingEvent(
            kind,
            "pubid-2",
            "apns-1",
            1,
            "alice",
            True,
            False,
            True,
            "inst",  # type: ignore[arg-type]
        )

    def test_extra_holds_the_optional_fields_sent(self) -> None:
        assert parse_reporting_event(body(WEB_EVENT)).extra == {}
        request = {**WEB_EVENT, "hasData": False, "instanceId": "inst", "appInBackground": None}
        assert parse_reporting_event(body(request)).extra == {"hasData": False, "instanceId": "inst"}

    @pytest.mark.parametrize("field", ["event", "publishId", "deviceId", "timestampSecs"])
    def test_required(self, field: str) -> None:
        request = {key: value for key, value in WEB_EVENT.items() if key != field}
        assert field in refused(400, "Bad request", parse_reporting_event, body(request)).description

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("event", "click"),
            ("event", 1),
            ("publishId", ""),
            ("deviceId", 5),
            ("timestampSecs", "1700000000"),
            ("timestampSecs", 1.5),
            ("timestampSecs", -1),
            ("timestampSecs", True),
            ("userId", 5),
            ("userId", "u" * 165),
            ("appInBackground", "true"),
            ("hasData", 1),
            ("instanceId", {}),
        ],
    )
    def test_wrong_type(self, field: str, value: Any) -> None:
        assert (
            field in refused(400, "Bad request", parse_reporting_event, body({**WEB_EVENT, field: value})).description
        )

    @pytest.mark.parametrize("request_body", [b"", b"[]", b"{"])
    def test_bad_json(self, request_body: bytes) -> None:
        refused(400, "Bad request", parse_reporting_event, request_body)

    @given(st.binary(max_size=200))
    def test_arbitrary_bytes_only_raise_beams_errors(self, request_body: bytes) -> None:
        try:
            parse_reporting_event(request_body)
        except BeamsError as error:
            assert error.status == 400

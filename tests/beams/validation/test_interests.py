"""A device's interest set and the pages of its listing (docs/protocol/beams.md §4)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.beams.helpers import refused
from tidings.beams.validation import MAX_INTERESTS_PER_DEVICE, encode_cursor, parse_interest_set, parse_list_limit


def body(value: Any) -> bytes:
    return orjson.dumps(value)


class TestInterestSet:
    def test_dedup_in_order(self) -> None:
        assert parse_interest_set(b'{"interests": ["b", "a", "b"]}') == ["b", "a"]

    def test_empty_clears(self) -> None:
        assert parse_interest_set(b'{"interests": []}') == []

    def test_limit_counts_distinct_names(self) -> None:
        names = [f"i{n}" for n in range(MAX_INTERESTS_PER_DEVICE)]
        assert len(parse_interest_set(body({"interests": names + names[:10]}))) == MAX_INTERESTS_PER_DEVICE
        refused(400, "Interest set too large", parse_interest_set, body({"interests": [*names, "one-more"]}))

    @pytest.mark.parametrize("names", [["ok", "bad name"], [""], ["a" * 165], [1], [None]])
    def test_invalid_name(self, names: list[Any]) -> None:
        refused(400, "Invalid interest name", parse_interest_set, body({"interests": names}))

    @pytest.mark.parametrize("request_body", [b"", b"[]", b"{}", b'{"interests": "a"}', b'{"interests": null}'])
    def test_bad_body(self, request_body: bytes) -> None:
        refused(400, "Bad request", parse_interest_set, request_body)


class TestListLimit:
    @pytest.mark.parametrize(
        ("limit", "cursor", "expected"),
        [
            (None, None, (100, 0)),
            ("1", None, (1, 0)),
            ("100", "0", (100, 0)),
            ("25", "50", (25, 50)),
            ("7", "", (7, 0)),
        ],
    )
    def test_accepted(self, limit: str | None, cursor: str | None, expected: tuple[int, int]) -> None:
        assert parse_list_limit(limit, cursor) == expected

    @pytest.mark.parametrize("limit", ["0", "101", "-1", "", "abc", "1.5", " 5", "+5", "\u0665", "9" * 20])
    def test_bad_limit(self, limit: str) -> None:
        refused(400, "Bad request", parse_list_limit, limit, None)

    @pytest.mark.parametrize("cursor", ["-1", "abc", "1e3", "\u0665", "9" * 20, " 1"])
    def test_bad_cursor(self, cursor: str) -> None:
        refused(400, "Bad request", parse_list_limit, None, cursor)

    @given(st.integers(0, 10**9 - 1))
    def test_issued_cursors_read_back(self, offset: int) -> None:
        assert parse_list_limit(None, encode_cursor(offset)) == (100, offset)

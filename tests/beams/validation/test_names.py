"""Interest names and user ids (docs/protocol/beams.md §2, §4), whichever API takes them."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.beams.helpers import INTEREST_CHARACTERS as ALLOWED
from tests.beams.helpers import refused
from tidings.beams.validation import check_interest, check_user_id
from tidings.errors import BeamsError

# What a careless check lets through: non-ASCII letters/digits, whitespace, '#', ':', '/', '%', '+'.
DISALLOWED = " \n\t#:/%+!~*'\"\\\u0661\u00e9\u212a\x00é"

INTEREST_RULE = re.compile(r"[A-Za-z0-9_\-=@,.;]{1,164}")


class TestNames:
    @given(st.text(ALLOWED + DISALLOWED, max_size=170))
    def test_check_interest_accepts_exactly_the_documented_language(self, name: str) -> None:
        expected = 1 <= len(name) <= 164 and all(char in ALLOWED for char in name)
        try:
            check_interest(name)
        except BeamsError as error:
            assert not expected
            assert (error.status, error.title) == (400, "Invalid interest name")
        else:
            assert expected

    @given(st.text(max_size=170))
    def test_check_interest_matches_the_regex_on_any_text(self, name: str) -> None:
        try:
            check_interest(name)
            accepted = True
        except BeamsError:
            accepted = False
        assert accepted == bool(INTEREST_RULE.fullmatch(name))

    @pytest.mark.parametrize("name", ["a\n", "\na", "a" * 165, ""])
    def test_check_interest_edge_cases(self, name: str) -> None:
        refused(400, "Invalid interest name", check_interest, name)

    @pytest.mark.parametrize("user_id", ["a", "a" * 164, "\U0001f600" * 164, "u/with spaces+é"])
    def test_user_id_accepted(self, user_id: str) -> None:
        check_user_id(user_id)

    def test_user_id_too_long(self) -> None:
        error = refused(400, "Bad request", check_user_id, "é" * 165)
        assert error.description == "'User id' is too long, max length is 164"

    @pytest.mark.parametrize("user_id", ["", "bad\ud800surrogate"])
    def test_user_id_empty_or_not_storable(self, user_id: str) -> None:
        refused(400, "Bad request", check_user_id, user_id)

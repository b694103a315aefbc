"""A device's interests: the whole set as one body, and the pages of the listing."""

from __future__ import annotations

import re

from tidings.beams.validation.names import MAX_ID_LENGTH, invalid_interest, is_interest
from tidings.beams.validation.request import bad_request, load_object
from tidings.errors import BeamsError, BeamsErrorKind

MAX_INTERESTS_PER_DEVICE = 5000
# {"interests": [...]} at the limits: 5000 names of 164 characters (ASCII, never escaped), each quoted and
# followed by a comma, plus 64 KiB for the braces and any whitespace a JSON encoder puts in (~880 KiB).
MAX_INTEREST_SET_BODY = MAX_INTERESTS_PER_DEVICE * (MAX_ID_LENGTH + 3) + 64 * 1024
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 100

_DIGITS = re.compile(r"[0-9]{1,9}")  # [0-9], not \d: no Arabic-Indic or other Unicode digits


def parse_interest_set(body: bytes) -> list[str]:
    request = load_object(body, MAX_INTEREST_SET_BODY)
    interests = request.get("interests")
    if not isinstance(interests, list):
        raise bad_request("`interests` must be an array of interest names")
    for name in interests:
        if not is_interest(name):
            raise invalid_interest()
    unique = list(dict.fromkeys(interests))
    if len(unique) > MAX_INTERESTS_PER_DEVICE:
        raise too_many_interests()
    return unique


def too_many_interests() -> BeamsError:
    return BeamsError(
        BeamsErrorKind.TOO_MANY_INTERESTS, f"A device can have at most {MAX_INTERESTS_PER_DEVICE} interests"
    )


def parse_list_limit(limit: str | None, cursor: str | None) -> tuple[int, int]:
    """(limit, offset) for listing a device's interests; the cursor is an offset this server issued."""
    size = DEFAULT_LIST_LIMIT
    if limit is not None:
        if not _DIGITS.fullmatch(limit) or not 1 <= int(limit) <= MAX_LIST_LIMIT:
            raise bad_request("`limit` given is not valid.")
        size = int(limit)
    offset = 0
    if cursor:  # the web SDK leaves an empty cursor out; treat `?cursor=` the same
        if not _DIGITS.fullmatch(cursor):
            raise bad_request("`cursor` given is not valid.")
        offset = int(cursor)
    return size, offset


def encode_cursor(offset: int) -> str:
    """The `nextCursor` for a page that starts at `offset`; parse_list_limit reads it back."""
    return str(offset)

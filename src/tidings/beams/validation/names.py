"""Interest names and user ids: the names every Beams API takes, in paths and in bodies."""

from __future__ import annotations

import re

from tidings.beams.validation.request import bad_request, show
from tidings.errors import BeamsError, BeamsErrorKind

MAX_ID_LENGTH = 164
USER_ID_TOO_LONG = f"'User id' is too long, max length is {MAX_ID_LENGTH}"

_INTEREST = re.compile(r"[A-Za-z0-9_\-=@,.;]{1,164}")


def check_interest(name: str) -> None:
    if not is_interest(name):
        raise invalid_interest()


def invalid_interest() -> BeamsError:
    return BeamsError(BeamsErrorKind.INVALID_INTEREST, "`interest-name` given is not valid.")


def is_interest(name: object) -> bool:
    return isinstance(name, str) and _INTEREST.fullmatch(name) is not None


def interest_rule(name: object) -> str:
    return (
        f"{show(name)} is not a valid interest name: interest names are 1 to {MAX_ID_LENGTH} characters"
        " from A-Z a-z 0-9 _ - = @ , . ;"
    )


def check_user_id(user_id: str) -> None:
    if not isinstance(user_id, str) or not user_id:
        raise bad_request("'User id' must not be empty")
    if len(user_id) > MAX_ID_LENGTH:
        raise bad_request(USER_ID_TOO_LONG)
    if not _is_unicode_text(user_id) or "\x00" in user_id:
        raise bad_request("'User id' must be valid Unicode text without NUL characters")


def _is_unicode_text(text: str) -> bool:
    # A str from a percent-decoded path can hold lone surrogates, which no database can store.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

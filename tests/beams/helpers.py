"""Shared helpers for the Beams core tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tidings.errors import BeamsError

# The characters of interest names (A-Z a-z 0-9 _ - = @ , . ;), a sample of each class.
INTEREST_CHARACTERS = "ABCXYZabcxyz0189_-=@,.;"


def refused(status: int, title: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> BeamsError:
    """Call `fn`, expect a BeamsError with this status and title, and return it."""
    with pytest.raises(BeamsError) as info:
        fn(*args, **kwargs)
    assert (info.value.status, info.value.title) == (status, title), info.value.description
    assert info.value.description  # clients (node, php) need both fields non-empty
    return info.value

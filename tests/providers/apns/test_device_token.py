"""The APNs device token rule (providers/apns/device_token.py): hex, 8 to 256 bytes, kept lowercase."""

from __future__ import annotations

import pytest

from tidings.errors import InvalidDeviceToken
from tidings.providers.apns.device_token import check


@pytest.mark.parametrize(
    ("token", "kept"),
    [("ab" * 32, "ab" * 32), ("AB" * 100, "ab" * 100), ("00" * 8, "00" * 8), ("Ff" * 256, "ff" * 256)],
)
def test_accepted_and_kept_lowercase(token: str, kept: str) -> None:
    assert check(token) == kept


@pytest.mark.parametrize("token", ["abc", "zz" * 32, "../../x", "00 ff", "0x00", "", "ab" * 31 + "é"])
def test_not_hex(token: str) -> None:
    with pytest.raises(InvalidDeviceToken, match="hex strings"):
        check(token)


@pytest.mark.parametrize("token", ["00", "00ff", "ab" * 7, "ab" * 257])
def test_too_short_or_too_long(token: str) -> None:
    with pytest.raises(InvalidDeviceToken, match="8 to 256 bytes"):
        check(token)

"""The FCM device token rule (providers/fcm/device_token.py): opaque, so only "there is one"."""

from __future__ import annotations

import pytest

from tidings.errors import InvalidDeviceToken
from tidings.providers.fcm.device_token import check


@pytest.mark.parametrize("token", ["t", "fcm:tok", "dGVzdA:APA91bH" + "x" * 140])
def test_kept_as_sent(token: str) -> None:
    assert check(token) == token


def test_empty_refused() -> None:
    with pytest.raises(InvalidDeviceToken):
        check("")

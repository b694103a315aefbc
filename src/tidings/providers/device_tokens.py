"""Each platform's device token rule, for the device API. Delivery's providers apply the same rules."""

from __future__ import annotations

import functools

from tidings.beams.models import Platform
from tidings.beams.validation import TokenRule
from tidings.providers.apns import device_token as apns_token
from tidings.providers.fcm import device_token as fcm_token
from tidings.providers.webpush import subscription


def rule(platform: Platform, *, https_only: bool = False) -> TokenRule:
    """`platform`'s rule; `https_only` refuses web subscriptions with a plain http endpoint."""
    if platform is Platform.APNS:
        return apns_token.check
    if platform is Platform.FCM:
        return fcm_token.check
    return functools.partial(subscription.check, https_only=https_only)

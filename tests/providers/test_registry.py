"""build_providers hands every real provider the settings' request deadline, and refuses unusable gateway URLs."""

from __future__ import annotations

import pytest

from tidings.beams.models import Platform
from tidings.config import load_settings
from tidings.errors import ConfigError
from tidings.providers.apns import ApnsProvider
from tidings.providers.fcm import FcmProvider
from tidings.providers.http2 import Http2Client
from tidings.providers.registry import build_providers, close_providers
from tidings.providers.webpush import WebPushProvider


async def test_every_provider_gets_delivery_request_timeout() -> None:
    providers = build_providers(load_settings({"delivery_request_timeout": 2.5}))
    try:
        web, apns, fcm = providers[Platform.WEB], providers[Platform.APNS], providers[Platform.FCM]
        assert isinstance(web, WebPushProvider) and web._timeout == 2.5
        assert isinstance(apns, ApnsProvider) and isinstance(apns._http, Http2Client) and apns._http.timeout == 2.5
        assert isinstance(fcm, FcmProvider) and fcm._timeout == 2.5
    finally:
        await close_providers(providers)


def test_the_default_deadline_is_ten_seconds() -> None:
    assert load_settings().delivery_request_timeout == 10.0


def test_an_apns_url_that_is_not_https_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="gateway URL"):
        build_providers(load_settings({"apns_url": "http://127.0.0.1:8443"}))

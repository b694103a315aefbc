"""The providers a process delivers with: the real gateway clients, or the stub for development."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.config import load_settings
from tidings.errors import ConfigError
from tidings.providers.apns import ApnsProvider
from tidings.providers.base import Delivered, Skipped
from tidings.providers.fcm import FcmProvider
from tidings.providers.registry import build_providers, close_providers
from tidings.providers.stub import StubProvider
from tidings.providers.webpush import WebPushProvider

INSTANCE = Instance(id="i", secret_key="s", vapid_private_key="k", vapid_public_key="p")


async def test_the_real_providers_one_per_platform() -> None:
    providers = build_providers(load_settings())
    try:
        assert {platform: type(provider) for platform, provider in providers.items()} == {
            Platform.WEB: WebPushProvider,
            Platform.APNS: ApnsProvider,
            Platform.FCM: FcmProvider,
        }
        assert all(provider.platform is platform for platform, provider in providers.items())
    finally:
        await close_providers(providers)


async def test_push_stub_delivers_whatever_has_a_payload_for_its_platform() -> None:
    providers = build_providers(load_settings({"push_stub": True}))
    assert all(isinstance(provider, StubProvider) for provider in providers.values())
    publish = Publish(id="p", instance_id="i", kind="users", targets=("alice",), payload={"fcm": {}})
    fcm = Device(id="fcm-1", instance_id="i", platform=Platform.FCM, token="t")
    web = Device(id="web-1", instance_id="i", platform=Platform.WEB, token="t")

    assert await providers[Platform.FCM].send(INSTANCE, fcm, publish) == Delivered()
    assert isinstance(await providers[Platform.WEB].send(INSTANCE, web, publish), Skipped)
    await close_providers(providers)


def test_an_unreadable_gateway_ca_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="gateway_ca_file"):
        build_providers(load_settings({"gateway_ca_file": tmp_path / "ca.pem"}))

"""The providers the delivery workers use: one per platform, built once per process from the settings."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tidings.beams.models import Platform
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.providers.base import Provider
from tidings.providers.stub import StubProvider

if TYPE_CHECKING:
    from tidings.providers.outbox.provider import Keep
    from tidings.storage.gateway_tokens import GatewayTokenStore

log = logging.getLogger("tidings.providers")


def build_providers(
    settings: Settings, token_store: GatewayTokenStore | None = None, *, outbox: Keep | None = None
) -> dict[Platform, Provider]:
    """The real gateway clients, or stubs for every platform when `push_stub` is set; with `outbox`, each behind
    the push outbox (providers/outbox), which keeps the notifications of instances in outbox mode instead.

    Each real provider keeps one HTTP client (kept-alive connections, HTTP/2 where the gateway has it)
    for all instances; the per-instance credentials come with each send. Close them with `close_providers`.
    `token_store` (storage.gateway_tokens) shares the APNs provider tokens and FCM access tokens with every
    other process: APNs throttles a key whose token changes more often than every 20 minutes.
    """
    providers = _gateways(settings, token_store)
    if outbox is None:
        return providers
    from tidings.providers.outbox.provider import OutboxProvider
    from tidings.providers.outbox.render import Renderer

    renderer = Renderer(settings)
    return {platform: OutboxProvider(provider, renderer, outbox) for platform, provider in providers.items()}


def _gateways(settings: Settings, token_store: GatewayTokenStore | None) -> dict[Platform, Provider]:
    if settings.push_stub:
        log.warning("push_stub is on: notifications are recorded as sent but go to no gateway")
        return {platform: StubProvider(platform) for platform in Platform}
    # Imported here: each pulls in its HTTP/crypto stack, which the stub (and the CLI) do without.
    from tidings.providers.apns import ApnsProvider
    from tidings.providers.fcm import FcmProvider
    from tidings.providers.webpush import WebPushProvider

    try:
        return {
            # One provider serves every worker of the process: size its connection pool for all of them.
            Platform.WEB: WebPushProvider(
                settings.model_copy(
                    update={"delivery_concurrency": settings.delivery_concurrency * max(1, settings.delivery_workers)}
                ),
                timeout=settings.delivery_request_timeout,
            ),
            Platform.APNS: ApnsProvider(
                settings.apns_url,
                settings.apns_sandbox_url,
                settings.gateway_ca_file,
                timeout=settings.delivery_request_timeout,
                token_store=token_store,
            ),
            Platform.FCM: FcmProvider(
                settings.fcm_url,
                settings.fcm_token_url,
                settings.gateway_ca_file,
                token_store=token_store,
                timeout=settings.delivery_request_timeout,
            ),
        }
    except (OSError, ssl.SSLError) as exc:  # loading gateway_ca_file
        raise ConfigError(f"cannot load gateway_ca_file {settings.gateway_ca_file}: {exc}") from exc
    except ValueError as exc:  # a gateway URL a client cannot use (the APNs ones must be https://)
        raise ConfigError(f"unusable gateway URL: {exc}") from exc


async def close_providers(providers: Mapping[Platform, Provider]) -> None:
    """Close every provider's connections; one failing to close does not keep the others open."""
    results = await asyncio.gather(*(provider.close() for provider in providers.values()), return_exceptions=True)
    for platform, result in zip(providers, results, strict=True):
        if isinstance(result, Exception):
            log.warning("closing the %s provider failed: %s", platform.value, result)

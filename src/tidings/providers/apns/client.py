"""The APNs provider: one HTTP/2 request per device over one shared, kept-alive client.

APNs is built for many concurrent streams on few long-lived connections (Apple: keep them open, do not
reconnect per notification), so every instance and both gateways share one httpx client; httpx opens one
connection per gateway and multiplexes the requests on it. Nothing is logged here: the pipeline records
each Outcome (Apple's reason strings only), and device tokens, JWTs and keys never leave this module.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import httpx

from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.providers.apns.errors import EXPIRED_PROVIDER_TOKEN, classify, reason_of
from tidings.providers.apns.request import build_request, is_device_token
from tidings.providers.apns.settings import ApnsSettings, ApnsSettingsError, instance_settings
from tidings.providers.apns.token import ProviderTokens
from tidings.providers.base import DeadToken, Failed, Outcome, Retry, Skipped
from tidings.providers.retry import retry_after as parse_retry_after

if TYPE_CHECKING:
    from tidings.storage.gateway_tokens import GatewayTokenStore

REQUEST_TIMEOUT = 10.0  # seconds for one exchange; a slow gateway becomes a Retry
CONNECT_TIMEOUT = 5.0
POOL_TIMEOUT = 30.0
# Idle connections are kept this long: reconnecting (TCP + TLS + HTTP/2 settings) per burst is what Apple
# asks providers not to do, and APNs itself closes connections it wants gone with a GOAWAY.
KEEPALIVE_EXPIRY = 600.0


class GatewaySettings(Protocol):
    """The slice of tidings.config.Settings the provider uses (any object with these attributes will do)."""

    @property
    def apns_url(self) -> str: ...

    @property
    def apns_sandbox_url(self) -> str: ...

    @property
    def gateway_ca_file(self) -> Path | None: ...


class ApnsProvider:
    """Provider for Platform.APNS. `http` replaces the built-in client (then `ca_file` is not used, and
    `close` leaves it open); `clock` gives the provider JWT its `iat` and decides when it is renewed."""

    platform = Platform.APNS

    def __init__(
        self,
        apns_url: str,
        sandbox_url: str,
        ca_file: Path | None,
        *,
        clock: Callable[[], float] = time.time,
        http: httpx.AsyncClient | None = None,
        token_store: GatewayTokenStore | None = None,
    ) -> None:
        self._urls = {"production": apns_url.rstrip("/"), "sandbox": sandbox_url.rstrip("/")}
        self._clock = clock
        # token_store: the provider token is shared by every process (Apple throttles a key's token renewals).
        self._tokens = ProviderTokens(clock, store=token_store)
        self._owns_http = http is None
        self._http = http if http is not None else new_http_client(ca_file)

    @classmethod
    def from_settings(cls, settings: GatewaySettings, *, clock: Callable[[], float] = time.time) -> ApnsProvider:
        return cls(settings.apns_url, settings.apns_sandbox_url, settings.gateway_ca_file, clock=clock)

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        apns = publish.payload.get("apns")
        if not isinstance(apns, dict):
            return Skipped("the publish has no apns payload")
        try:
            settings = instance_settings(instance)
        except ApnsSettingsError as exc:
            return Failed(str(exc), status=0)
        if settings is None:
            return Skipped("the instance has no APNs credentials")
        if not is_device_token(device.token):
            # Never sent: it would only come back BadDeviceToken, and it must not reach the URL path.
            return DeadToken("BadDeviceToken (not a hex device token)", status=0)
        topic = settings.topic or device.bundle_identifier
        if not topic:
            return Failed("no apns-topic: set `topic` in the APNs settings or register the bundle identifier", 0)
        request = build_request(instance.id, publish.id, apns, device.token, topic)
        jwt = await self._tokens.get(settings)
        try:
            response = await self._http.post(
                self._urls[settings.environment] + request.path,
                content=request.body,
                headers={**request.headers, "authorization": f"bearer {jwt}"},
            )
        except httpx.HTTPError as exc:
            # Connection refused or reset, TLS failure, timeout, GOAWAY: all worth another try later.
            return Retry(_describe(exc, device.token))
        return self._answer(settings, jwt, response)

    def _answer(self, settings: ApnsSettings, jwt: str, response: httpx.Response) -> Outcome:
        reason = reason_of(response.content) if response.status_code != 200 else None
        if reason == EXPIRED_PROVIDER_TOKEN:
            self._tokens.invalidate(settings, jwt)
        retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock())
        return classify(response.status_code, reason, retry_after)

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()


def _describe(exc: httpx.HTTPError, token: str) -> str:
    # The reason is recorded and may be logged: keep the device token out even if a message quotes the URL.
    text = str(exc).replace(token, "<device token>")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def new_http_client(ca_file: Path | None = None) -> httpx.AsyncClient:
    """An HTTP/2 client trusting the system CAs plus `ca_file` (a staging gateway's or an emulator's CA)."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return httpx.AsyncClient(
        http2=True,
        verify=context,
        # pool: how long a request may wait for a connection while one is being opened or all are busy.
        timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT, pool=POOL_TIMEOUT),
        # HTTP/2 needs one connection per gateway; the cap only matters if a proxy downgrades to HTTP/1.1.
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=KEEPALIVE_EXPIRY),
    )

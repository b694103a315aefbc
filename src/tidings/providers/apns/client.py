"""The APNs provider: one HTTP/2 request per device over one shared, kept-alive connection per gateway.

APNs is built for many concurrent streams on few long-lived connections (Apple: keep them open, do not
reconnect per notification), so every instance shares one providers.http2.Http2Client, which opens one
connection per gateway (production, sandbox) and multiplexes the requests on it. Every request has a total
deadline (`timeout`, from delivery_request_timeout) and at most 4 KiB of each answer is read. Nothing is logged
here: the pipeline records each Outcome (Apple's reason strings only), and device tokens, JWTs and keys never
leave this module.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.errors import InvalidDeviceToken
from tidings.providers.apns import device_token
from tidings.providers.apns.errors import EXPIRED_PROVIDER_TOKEN, classify, reason_of
from tidings.providers.apns.request import build_request
from tidings.providers.apns.settings import ApnsSettings, ApnsSettingsError, instance_settings
from tidings.providers.apns.token import ProviderTokens
from tidings.providers.base import DeadToken, Failed, Outcome, Retry, Skipped
from tidings.providers.http2 import Http2Client, Http2Error, InvalidRequest, Response, parse_origin
from tidings.providers.limits import REQUEST_TIMEOUT
from tidings.providers.retry import retry_after as parse_retry_after

if TYPE_CHECKING:
    from tidings.storage.gateway_tokens import GatewayTokenStore


class GatewaySettings(Protocol):
    """The slice of tidings.config.Settings the provider uses (any object with these attributes will do)."""

    @property
    def apns_url(self) -> str: ...

    @property
    def apns_sandbox_url(self) -> str: ...

    @property
    def gateway_ca_file(self) -> Path | None: ...

    @property
    def delivery_request_timeout(self) -> float: ...


class GatewayClient(Protocol):
    """What the provider needs of its HTTP/2 client: Http2Client's shape (a bench can put another behind it).

    `request` raises Http2Error for a failed exchange (transient) and InvalidRequest for a request that cannot be
    sent; it enforces the total deadline and the bound on the answer's body itself.
    """

    async def request(
        self, base_url: str, path: str, headers: Iterable[tuple[str, str]], body: bytes = b"", *, method: str = "POST"
    ) -> Response: ...

    async def aclose(self) -> None: ...


class ApnsProvider:
    """Provider for Platform.APNS. `http` replaces the built-in client (then `ca_file` and `timeout` are not used,
    and `close` leaves it open); `clock` gives the provider JWT its `iat` and decides when it is renewed;
    `timeout` is the total deadline of one request, in seconds."""

    platform = Platform.APNS

    def __init__(
        self,
        apns_url: str,
        sandbox_url: str,
        ca_file: Path | None,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = REQUEST_TIMEOUT,
        http: GatewayClient | None = None,
        token_store: GatewayTokenStore | None = None,
    ) -> None:
        self._urls = {"production": apns_url.rstrip("/"), "sandbox": sandbox_url.rstrip("/")}
        for url in self._urls.values():
            parse_origin(url)  # a URL the client cannot use (not https://) fails here, at start-up, not per send
        self._clock = clock
        # token_store: the provider token is shared by every process (Apple throttles a key's token renewals).
        self._tokens = ProviderTokens(clock, store=token_store)
        # instance id -> (the raw settings, parsed): validation (the key's PEM above all) once per change, not per send.
        self._settings: dict[str, tuple[object, ApnsSettings]] = {}
        self._owns_http = http is None
        self._http: GatewayClient = http if http is not None else new_http_client(ca_file, timeout)

    @classmethod
    def from_settings(cls, settings: GatewaySettings, *, clock: Callable[[], float] = time.time) -> ApnsProvider:
        return cls(
            settings.apns_url,
            settings.apns_sandbox_url,
            settings.gateway_ca_file,
            clock=clock,
            timeout=settings.delivery_request_timeout,
        )

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        apns = publish.payload.get("apns")
        if not isinstance(apns, dict):
            return Skipped("the publish has no apns payload")
        try:
            settings = self._instance_settings(instance)
        except ApnsSettingsError as exc:
            return Failed(str(exc), status=0)
        if settings is None:
            return Skipped("the instance has no APNs credentials")
        try:
            token = device_token.check(device.token)
        except InvalidDeviceToken as exc:
            # Never sent (registration applies the same rule, so a damaged row): it would only come back
            # BadDeviceToken, and it must not reach the URL path.
            return DeadToken(f"BadDeviceToken ({exc})", status=0)
        topic = settings.topic or device.bundle_identifier
        if not topic:
            return Failed("no apns-topic: set `topic` in the APNs settings or register the bundle identifier", 0)
        request = build_request(instance.id, publish.id, apns, token, topic)
        jwt = await self._tokens.get(settings)
        headers = [*request.headers.items(), ("authorization", f"bearer {jwt}")]
        try:
            response = await self._http.request(self._urls[settings.environment], request.path, headers, request.body)
        except Http2Error as exc:
            # Connection refused or lost, TLS failure, deadline passed, stream reset, GOAWAY: worth another try.
            return Retry(_describe(exc, token))
        except InvalidRequest as exc:  # e.g. a topic or collapse id HTTP/2 cannot carry: it will not change
            return Failed(str(exc), status=0)
        return self._answer(settings, jwt, response)

    def _instance_settings(self, instance: Instance) -> ApnsSettings | None:
        raw = instance.providers.get("apns")
        cached = self._settings.get(instance.id)
        if cached is not None and cached[0] == raw:
            return cached[1]
        settings = instance_settings(instance)
        if settings is not None:
            self._settings[instance.id] = (raw, settings)
        return settings

    def _answer(self, settings: ApnsSettings, jwt: str, response: Response) -> Outcome:
        reason = reason_of(response.body) if response.status != 200 else None
        if reason == EXPIRED_PROVIDER_TOKEN:
            self._tokens.invalidate(settings, jwt)
        retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock())
        return classify(response.status, reason, retry_after)

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()


def _describe(exc: Exception, token: str) -> str:
    # The reason is recorded and may be logged: keep the device token out even if a message quotes the path.
    text = str(exc).replace(token, "<device token>")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def new_http_client(ca_file: Path | None = None, timeout: float = REQUEST_TIMEOUT) -> Http2Client:
    """The HTTP/2 client, trusting the system CAs plus `ca_file` (a staging gateway's or an emulator's CA)."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return Http2Client(context, timeout=timeout)

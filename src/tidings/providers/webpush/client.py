"""WebPushProvider: one Beams publish to one browser subscription (RFC 8030 + 8291 + 8292)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable

import certifi
import httpx

from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.beams.validation import decode_web_subscription
from tidings.errors import BeamsError
from tidings.providers.base import DeadToken, Failed, Outcome, Retry, Skipped
from tidings.providers.webpush import payload
from tidings.providers.webpush.errors import classify
from tidings.providers.webpush.settings import (
    CONNECT_TIMEOUT,
    MAX_BODY,
    REQUEST_TIMEOUT,
    GatewaySettings,
    push_headers,
)
from tidings.providers.webpush.vapid import VapidSigner


class WebPushProvider:
    platform = Platform.WEB

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._signer = VapidSigner(clock)
        self._owns_http = http is None
        self._http = http if http is not None else make_http_client(settings)

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        web = publish.payload.get("web")
        if not isinstance(web, dict):
            return Skipped("publish has no web payload")
        try:
            subscription = decode_web_subscription(device.token)
        except BeamsError:
            # Registration validates tokens, so this is a damaged row; it can never be delivered to.
            return DeadToken("device token is not a valid push subscription", status=0)
        plaintext = payload.message_bytes(instance.id, publish.id, web)
        if payload.encrypted_size(plaintext) > MAX_BODY:
            return Failed(f"payload too large: encrypted web push message over {MAX_BODY} bytes", status=413)
        try:
            authorization = self._signer.authorization(instance, subscription.endpoint)
        except ValueError:
            return Failed("instance VAPID key is unusable", status=0)
        headers = {
            **push_headers(web).as_dict(),
            "Authorization": authorization,
            "Content-Type": "application/octet-stream",
            "Content-Encoding": "aes128gcm",
        }
        body = payload.encrypt(plaintext, subscription)
        try:
            response = await self._http.post(subscription.endpoint, content=body, headers=headers)
        except httpx.TransportError as exc:  # connect/read/write errors and timeouts: the service may recover
            return Retry(f"push service unreachable: {type(exc).__name__}")
        except httpx.HTTPError as exc:  # e.g. an endpoint httpx cannot send to; retrying will not change it
            return Failed(f"push request failed: {type(exc).__name__}", status=0)
        return classify(response, self._clock())

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()


def make_http_client(settings: GatewaySettings) -> httpx.AsyncClient:
    """The shared client: keep-alive, HTTP/2 where the push service offers it, pool sized to the workers."""
    concurrency = max(settings.delivery_concurrency, 1)
    return httpx.AsyncClient(
        http2=True,  # FCM and Apple speak HTTP/2: many requests share one connection
        verify=_tls_context(settings),
        timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=60),
        follow_redirects=False,  # a push endpoint that redirects is misbehaving; do not carry VAPID elsewhere
    )


def _tls_context(settings: GatewaySettings) -> ssl.SSLContext:
    # The system store, certifi's (what httpx trusts by default, useful in slim containers) and the extra CA.
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=certifi.where())
    if settings.gateway_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.gateway_ca_file))
    return context

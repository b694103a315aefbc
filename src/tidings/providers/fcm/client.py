"""FcmProvider: one Beams publish to one Android device through the FCM HTTP v1 API.

    POST {fcm_url}/v1/projects/{project}/messages:send
    Authorization: Bearer <OAuth2 access token of the instance's service account>
    {"message": {"token": ..., "data": {...}, "notification": {...}, "android": {...}}}

Requests go over one kept-alive httpx client (HTTP/2 when the gateway offers it, as fcm.googleapis.com does), so
a worker's concurrent sends share a few connections. Every send has a total deadline (`timeout`, from
delivery_request_timeout: connect, headers and body together) and at most 4 KiB of an answer is read. Every
gateway and token-endpoint problem comes back as an Outcome; `send` does not raise for them.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import orjson

from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.errors import InvalidDeviceToken
from tidings.providers.base import DeadToken, Failed, Outcome, Retry, Skipped
from tidings.providers.fcm import device_token
from tidings.providers.fcm.credentials import AccessTokens
from tidings.providers.fcm.errors import CredentialError, TokenError, classify
from tidings.providers.fcm.message import v1_message
from tidings.providers.fcm.settings import FcmSettings, FcmSettingsError, parse_settings
from tidings.providers.limits import MAX_RESPONSE_BODY, REQUEST_TIMEOUT, read_bounded

if TYPE_CHECKING:
    from tidings.storage.gateway_tokens import GatewayTokenStore

log = logging.getLogger(__name__)

# FCM answers in well under a second; a stuck connection must not hold a delivery slot for long. These bound each
# step (and the token requests, which share the client); a send as a whole is bounded by the provider's `timeout`.
TIMEOUT = httpx.Timeout(REQUEST_TIMEOUT, connect=5.0)
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=60.0)


def gateway_ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """The usual public CAs, plus `ca_file` when given (a staging emulator's CA is added, never substituted)."""
    context = httpx.create_ssl_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


class FcmProvider:
    platform = Platform.FCM

    def __init__(
        self,
        fcm_url: str,
        token_url: str,
        ca_file: Path | None,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        token_store: GatewayTokenStore | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self._base = fcm_url.rstrip("/")
        self._timeout = timeout
        # An injected client (tests, a shared pool) belongs to the caller and is not closed here.
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            verify=gateway_ssl_context(ca_file), http2=True, timeout=TIMEOUT, limits=LIMITS
        )
        self._clock = clock
        # token_store: one access token per service account for every process, not one each.
        self.tokens = AccessTokens(self._http, token_url, clock, store=token_store)
        # instance id -> (the raw settings they were parsed from, parsed): validation once per change, not per send.
        self._settings: dict[str, tuple[Any, FcmSettings]] = {}

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        fcm = publish.payload.get("fcm")
        if not isinstance(fcm, dict):
            return Skipped("publish has no fcm payload")
        raw = instance.providers.get("fcm")
        if not raw:
            return Skipped("instance has no FCM credentials")
        try:
            token = device_token.check(device.token)
        except InvalidDeviceToken as exc:  # registration applies the same rule: a damaged row
            return DeadToken(f"not an FCM token ({exc})", status=0)
        try:
            settings = self._parse(instance.id, raw)
            access_token = await self.tokens.get(settings.service_account)
        except (FcmSettingsError, CredentialError) as exc:
            return Failed(str(exc))
        except TokenError as exc:
            return Retry(exc.reason, exc.after, exc.status)
        url = f"{self._base}/v1/projects/{quote(settings.project, safe='')}/messages:send"
        body = orjson.dumps({"message": v1_message(instance.id, publish.id, token, fcm)})
        headers = {
            "Authorization": f"Bearer {access_token}",
            "Content-Type": "application/json",
            # Only 4 KiB of the answer is read: ask for it uncompressed, so a small compressed body cannot inflate.
            "Accept-Encoding": "identity",
        }
        try:
            async with asyncio.timeout(self._timeout):
                status, retry_after, content = await self._exchange(url, body, headers)
        except TimeoutError:
            return Retry(f"FCM did not answer in full within {self._timeout:g}s")
        except httpx.HTTPError as exc:
            # Connection refused/reset, TLS, timeouts, HTTP/2 stream resets: the gateway may be fine in a moment.
            return Retry(f"FCM unreachable ({type(exc).__name__})")
        outcome = classify(status, content, retry_after, self._clock())
        if isinstance(outcome, Retry) and outcome.status == 401:
            # FCM refused our access token (revoked, or expired earlier than it said): fetch a new one next time.
            log.info("fcm refused the access token of %s; it will be refreshed", settings.service_account.client_email)
            self.tokens.invalidate(settings.service_account, access_token)
        return outcome

    async def _exchange(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str | None, bytes]:
        async with self._http.stream("POST", url, content=body, headers=headers) as response:
            # Past the bound the rest is not read: leaving the block closes the response unread.
            content, _ = await read_bounded(response.aiter_bytes(), MAX_RESPONSE_BODY)
            return response.status_code, response.headers.get("retry-after"), content

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def _parse(self, instance_id: str, raw: Any) -> FcmSettings:
        cached = self._settings.get(instance_id)
        if cached is not None and cached[0] == raw:
            return cached[1]
        settings = parse_settings(raw)
        self._settings[instance_id] = (raw, settings)
        return settings

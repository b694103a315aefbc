"""WebPushProvider: one Beams publish to one browser subscription (RFC 8030 + 8291 + 8292).

Every request has a total deadline (`timeout`, from delivery_request_timeout: waiting for a pooled connection,
connecting, the headers and the body together) and at most 4 KiB of an answer is read (providers/limits.py).
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import aiohttp
import certifi
from aiohttp.abc import AbstractResolver

from tidings.beams.models import Device, Instance, Platform, Publish
from tidings.providers import netguard
from tidings.providers.base import Failed, Outcome, Retry
from tidings.providers.limits import MAX_RESPONSE_BODY, REQUEST_TIMEOUT, read_bounded
from tidings.providers.webpush import payload
from tidings.providers.webpush.errors import Answer, classify
from tidings.providers.webpush.request import WebRequest, prepare
from tidings.providers.webpush.settings import (
    CONNECT_TIMEOUT,
    KEEPALIVE_EXPIRY,
    GatewaySettings,
)
from tidings.providers.webpush.vapid import VapidSigner

# Failures of the exchange itself that the push service may recover from: connect/read/write errors, timeouts,
# a connection dropped mid-answer, an answer that is not HTTP.
_TRANSIENT = (
    asyncio.TimeoutError,
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    aiohttp.ClientResponseError,
)


class WebPushProvider:
    platform = Platform.WEB

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        http: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._signer = VapidSigner(clock)
        self._owns_http = http is None
        self._http = http
        # Built now, so an unreadable gateway_ca_file fails at start-up (OSError / ssl.SSLError), not per send.
        # The session itself is made on the first send: aiohttp binds it to the running event loop.
        self._settings = settings
        self._tls = _tls_context(settings) if http is None else None
        self._last_message: tuple[tuple[str, str], bytes] | None = None

    async def send(self, instance: Instance, device: Device, publish: Publish) -> Outcome:
        prepared = prepare(instance, device, publish, self._signer, self._plaintext)
        if not isinstance(prepared, WebRequest):
            return prepared
        subscription, headers = prepared.subscription, prepared.headers
        if not self._settings.push_allow_private_networks and netguard.is_private_literal(subscription.endpoint):
            return Failed(netguard.REFUSED, status=0)  # IP literals never reach the connector's resolver
        body = payload.encrypt(prepared.plaintext, subscription)
        http = self._http
        if http is None:
            http = self._http = make_http_client(self._settings, self._tls)
        try:
            async with asyncio.timeout(self._timeout):
                answer = await _exchange(http, subscription.endpoint, body, headers)
        except TimeoutError:
            return Retry(f"push service did not answer in full within {self._timeout:g}s")
        except _TRANSIENT as exc:
            if netguard.refusal(exc) is not None:  # the resolver found no public address: will not change
                return Failed(netguard.REFUSED, status=0)
            return Retry(f"push service unreachable: {type(exc).__name__}")
        except (aiohttp.ClientError, ValueError) as exc:  # e.g. an endpoint aiohttp cannot send to; will not change
            return Failed(f"push request failed: {type(exc).__name__}", status=0)
        return classify(answer, self._clock())

    def _plaintext(self, instance_id: str, publish_id: str, web: dict[str, Any]) -> bytes:
        # The same bytes for every device of a publish: encoded once, not once per device.
        key = (instance_id, publish_id)
        if self._last_message is None or self._last_message[0] != key:
            self._last_message = (key, payload.message_bytes(instance_id, publish_id, web))
        return self._last_message[1]

    async def close(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()


async def _exchange(http: aiohttp.ClientSession, endpoint: str, body: bytes, headers: dict[str, str]) -> Answer:
    # No redirects: a push endpoint that redirects is misbehaving; do not carry VAPID elsewhere.
    async with http.post(endpoint, data=body, headers=headers, allow_redirects=False) as response:
        content, cut = await read_bounded(response.content.iter_any(), MAX_RESPONSE_BODY)
        if cut:
            response.close()  # the rest is never read: the connection goes, it cannot be reused mid-body
        return Answer(response.status, response.headers, content)


def make_http_client(
    settings: GatewaySettings, tls: ssl.SSLContext | None = None, *, dns: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """The shared client: keep-alive HTTP/1.1 connections, at most delivery_concurrency of them in all.

    Call it with an event loop running (aiohttp binds the session to it). aiohttp rather than httpx: httpx's
    pool scans every pooled connection on each request, which at a pool of a few hundred cost ~2 ms of CPU per
    notification; aiohttp keeps idle connections per host and parses HTTP in C. It speaks HTTP/1.1 only, so
    many concurrent sends to one push service use many connections (as many as the pool allows) where HTTP/2
    would share one.

    Unless push_allow_private_networks is on, the connector resolves through netguard.PublicResolver (wrapping
    `dns`, aiohttp's default resolver when None): only public addresses are connected to.
    """
    proxies = urllib.request.getproxies()
    resolver = (
        None if settings.push_allow_private_networks
        else netguard.PublicResolver(dns, exempt=netguard.proxy_hosts(proxies.values()))
    )
    concurrency = max(settings.delivery_concurrency, 1)
    connector = aiohttp.TCPConnector(
        ssl=tls if tls is not None else _tls_context(settings),
        limit=concurrency,
        limit_per_host=0,  # the total is the limit, as before: a publish usually goes to one or two services
        keepalive_timeout=KEEPALIVE_EXPIRY,
        ttl_dns_cache=60,
        resolver=resolver if resolver is not None else dns,
    )
    return aiohttp.ClientSession(
        connector=connector,
        # The whole exchange is bounded by the provider's total deadline; a read timeout would restart at every
        # byte. sock_connect only moves on to a host's next address sooner.
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT),
        # Proxies from HTTP(S)_PROXY / NO_PROXY when set (as httpx did); otherwise off, which also spares a
        # ~/.netrc lookup in a thread per request.
        trust_env=bool(proxies),
        raise_for_status=False,
    )


def _tls_context(settings: GatewaySettings) -> ssl.SSLContext:
    # The system store, certifi's (useful in slim containers) and the extra CA.
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=certifi.where())
    if settings.gateway_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.gateway_ca_file))
    return context

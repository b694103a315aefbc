"""A Web Push service (RFC 8030) in-process, strict about what a real one checks, that decrypts what it gets.

    async with WebPushEmulator() as push:               # from async tests (same event loop)
        sub = push.new_subscription(application_server_key=instance.vapid_public_key)
        device_token = push.token_for(sub)                # base64 of the PushSubscription JSON, as the web SDK sends
        ...                                               # send to sub.endpoint
        got = push.received[-1]                           # subscription id, status, headers, decrypted JSON, claims

    with WebPushEmulator() as push:                     # from sync tests: runs its own loop in a thread
        ...
        got = push.wait_for(1, subscription=sub)          # blocks until one push for `sub` arrived

`POST /push/<id>` is checked like a real push service does: VAPID (RFC 8292: ES256 JWT signed by `k`, aud = this
origin, exp in the future and at most 24 h ahead, a mailto:/https: sub; `k` must equal the key the subscription
was made with, if one was given: 403 otherwise, as FCM answers), TTL, Content-Encoding aes128gcm, one record of
at most 4096 bytes, and the body must decrypt with the subscriber's private key and auth secret (RFC 8291).
Refusals: 400 malformed, 401 bad VAPID, 403 other VAPID key, 404 unknown subscription, 413 body too large.
Then the answer is 201, or what `answer(...)` programmed: for one subscription or for the next N requests.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

MAX_BODY = 4096
MAX_JWT_LIFETIME = 24 * 3600
_URGENCIES = {"very-low", "low", "normal", "high"}
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class EmulatedSubscription:
    """What a browser holds after pushManager.subscribe(): its key pair, auth secret and endpoint."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    auth_secret: bytes = field(repr=False)
    application_server_key: str | None = None  # the VAPID public key (base64url) it was subscribed with

    @property
    def p256dh_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def to_json(self) -> dict[str, Any]:
        """PushSubscription.toJSON(), in Chromium's key order."""
        keys = {"p256dh": b64url(self.p256dh_bytes), "auth": b64url(self.auth_secret)}
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": keys}


def token_for(subscription: EmulatedSubscription) -> str:
    """The web SDK's device token: `btoa(JSON.stringify(subscription))`."""
    return base64.b64encode(json.dumps(subscription.to_json(), separators=(",", ":")).encode()).decode()


@dataclass(frozen=True)
class ReceivedPush:
    subscription_id: str
    status: int  # what the emulator answered
    headers: dict[str, str]  # lower-case names
    message: Any = None  # the decrypted JSON, when the request got that far
    claims: dict[str, Any] | None = None  # the verified VAPID JWT claims
    vapid_token: str | None = None  # the raw `t=` JWT, to see whether the sender reuses it
    error: str | None = None  # why it was refused


@dataclass
class _Rule:
    status: int
    subscription_id: str | None  # None: any subscription
    remaining: int | None  # None: until reset()
    retry_after: str | None
    body: str
    trickle: bool = False  # send the status, then one byte of body every 2 s, for ever


class _Refused(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


class WebPushEmulator:
    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self._ssl = ssl_context
        self._clock = clock
        self._subscriptions: dict[str, EmulatedSubscription] = {}
        self._rules: list[_Rule] = []
        self._received: list[ReceivedPush] = []
        self._cond = threading.Condition()  # requests are handled on the emulator's loop, waited on from any thread
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> WebPushEmulator:
        app = web.Application()
        app.router.add_post("/push/{id}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0, ssl_context=self._ssl)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WebPushEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __enter__(self) -> WebPushEmulator:
        # Sync tests: a private loop in a daemon thread, so the test thread may block in wait_for().
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webpush-emulator", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._thread is not None
        asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._thread = None

    @property
    def origin(self) -> str:
        assert self._port, "emulator not started"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self._ssl else 'http'}://{host}:{self._port}"

    # ------------------------------------------------------------------------------------ test helpers
    def new_subscription(self, application_server_key: str | None = None) -> EmulatedSubscription:
        """A fresh browser subscription on this service; pass the VAPID key to bind it like browsers do."""
        sub_id = secrets.token_urlsafe(16)
        sub = EmulatedSubscription(
            id=sub_id,
            endpoint=f"{self.origin}/push/{sub_id}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=secrets.token_bytes(16),
            application_server_key=application_server_key,
        )
        self._subscriptions[sub_id] = sub
        return sub

    token_for = staticmethod(token_for)

    def forget(self, subscription: EmulatedSubscription) -> None:
        """Drop a subscription: later pushes to it get 404, as after the user revoked permission."""
        self._subscriptions.pop(subscription.id, None)

    def answer(
        self,
        status: int,
        *,
        subscription: EmulatedSubscription | None = None,
        times: int | None = None,
        retry_after: str | int | None = None,
        body: str = "",
        trickle: bool = False,
    ) -> None:
        """Answer `status` to valid pushes: for `subscription` (else any), `times` times (else until reset()).

        `trickle`: send the status line and headers, then one byte of body every 2 s, never ending (a hostile or
        broken push service that a per-read timeout would never cut)."""
        sub_id = subscription.id if subscription is not None else None
        after = None if retry_after is None else str(retry_after)
        with self._cond:
            self._rules.append(_Rule(status, sub_id, times, after, body, trickle))

    def reset(self) -> None:
        with self._cond:
            self._rules.clear()
            self._received.clear()

    @property
    def received(self) -> list[ReceivedPush]:
        with self._cond:
            return list(self._received)

    def wait_for(
        self, count: int = 1, *, subscription: EmulatedSubscription | None = None, timeout: float = 30.0
    ) -> list[ReceivedPush]:
        """Block until `count` requests (for `subscription`, if given) arrived. Not from the emulator's own loop."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self._received if subscription is None or r.subscription_id == subscription.id]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"web push emulator: {len(got)} request(s) in {timeout}s, expected {count}")
                self._cond.wait(remaining)

    async def wait_for_async(
        self, count: int = 1, *, subscription: EmulatedSubscription | None = None, timeout: float = 30.0
    ) -> list[ReceivedPush]:
        return await asyncio.to_thread(self.wait_for, count, subscription=subscription, timeout=timeout)

    # --------------------------------------------------------------------------------------- the service
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        sub_id = request.match_info["id"]
        headers = {name.lower(): value for name, value in request.headers.items()}
        body = await request.read()
        claims: dict[str, Any] | None = None
        token: str | None = None
        try:
            sub = self._subscriptions.get(sub_id)
            if sub is None:
                raise _Refused(404, "no such subscription")
            _check_push_headers(headers)
            claims, token = self._check_vapid(headers.get("authorization"), sub)
            message = _decrypt(body, sub)
        except _Refused as refused:
            self._record(ReceivedPush(sub_id, refused.status, headers, None, claims, token, refused.why))
            return web.json_response({"reason": refused.why}, status=refused.status)
        rule = self._take_rule(sub_id)
        status = rule.status if rule else 201
        self._record(ReceivedPush(sub_id, status, headers, message, claims, token))
        if rule is None:
            # RFC 8030 section 5: 201 with the push message resource in Location.
            return web.Response(status=201, headers={"Location": f"{self.origin}/m/{secrets.token_hex(8)}"})
        extra = {"Retry-After": rule.retry_after} if rule.retry_after is not None else {}
        if rule.trickle:
            return await _trickle(request, status)
        return web.Response(status=status, text=rule.body, headers=extra)

    def _check_vapid(self, header: str | None, sub: EmulatedSubscription) -> tuple[dict[str, Any], str]:
        scheme, _, rest = (header or "").partition(" ")
        if scheme.lower() != "vapid":
            raise _Refused(401, "missing vapid Authorization")
        params = dict(part.strip().partition("=")[::2] for part in rest.split(","))
        token, key = params.get("t", ""), params.get("k", "")
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        except ValueError:
            raise _Refused(401, "k is not a P-256 public key") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                public,
                algorithms=["ES256"],
                audience=self.origin,
                options={"require": ["aud", "exp", "sub"], "verify_exp": False},  # exp: checked on our clock
            )
        except jwt.InvalidTokenError as exc:
            raise _Refused(401, f"bad VAPID JWT: {exc}") from None
        now = self._clock()
        if not isinstance(claims["exp"], int) or not now < claims["exp"] <= now + MAX_JWT_LIFETIME:
            raise _Refused(401, "VAPID JWT exp must be in the future and at most 24 h ahead")
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            raise _Refused(401, "VAPID JWT sub must be a mailto: or https: URI")
        if sub.application_server_key is not None and key != sub.application_server_key:
            raise _Refused(403, "VAPID key differs from the subscription's applicationServerKey")
        return claims, token

    def _take_rule(self, sub_id: str) -> _Rule | None:
        with self._cond:
            # A rule for this subscription wins over a rule for any subscription.
            for rule in sorted(self._rules, key=lambda r: r.subscription_id is None):
                if rule.subscription_id in (None, sub_id):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            self._rules.remove(rule)
                    return rule
        return None

    def _record(self, push: ReceivedPush) -> None:
        with self._cond:
            self._received.append(push)
            self._cond.notify_all()


async def _trickle(request: web.Request, status: int) -> web.StreamResponse:
    response = web.StreamResponse(status=status)
    response.enable_chunked_encoding()
    await response.prepare(request)
    while True:  # until the client goes away (aiohttp then cancels this handler)
        await response.write(b"x")
        await asyncio.sleep(2)


def _check_push_headers(headers: dict[str, str]) -> None:
    if not headers.get("ttl", "").isdigit():
        raise _Refused(400, "TTL header required (non-negative integer seconds)")
    if headers.get("content-encoding") != "aes128gcm":
        raise _Refused(400, "Content-Encoding must be aes128gcm")
    if "urgency" in headers and headers["urgency"] not in _URGENCIES:
        raise _Refused(400, "bad Urgency")
    if "topic" in headers and not _TOPIC.fullmatch(headers["topic"]):
        raise _Refused(400, "bad Topic")


def _decrypt(body: bytes, sub: EmulatedSubscription) -> Any:
    if len(body) > MAX_BODY:
        raise _Refused(413, "payload too large")
    if len(body) < 21 or body[20] != 65:
        raise _Refused(400, "aes128gcm header must carry the 65-byte sender key as key id")
    (record_size,) = struct.unpack("!I", body[16:20])
    if len(body) - 86 > record_size:
        raise _Refused(400, "RFC 8291 allows one record only")
    try:
        plaintext = http_ece.decrypt(
            body, private_key=sub.private_key, auth_secret=sub.auth_secret, version="aes128gcm"
        )
        return json.loads(plaintext)
    except (http_ece.ECEException, ValueError) as exc:
        raise _Refused(400, f"cannot decrypt: {exc}") from None

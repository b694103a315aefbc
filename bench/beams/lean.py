"""Lean push gateways, for runs where the strict emulators would be what is measured (`--lean-gateways`).

The test suite's emulators (tests/support/emulators) check everything on every request: the APNs one runs on
hypercorn (ASGI over h2, a task per stream) and verifies the ES256 provider token of each request, the Web Push
one verifies each VAPID JWT and decrypts each payload (an ECDH per message). That costs the gateways ~1 ms of
CPU per notification, so on the one CPU the bench leaves them they cannot take more than ~1,000 notifications
per second: a server doing 3,000/s would be measured against them, not alone.

Here, with the same answers for what a bench sends:

- LeanApns: HTTP/2 over TLS on h2 directly (one asyncio Protocol per connection, uvloop), two ports (production,
  sandbox) like the emulator; checks method, path, a known hex token for the topic, the provider JWT (ES256
  signature verified once per distinct token string, then cached; iat at most an hour old), apns-topic,
  apns-push-type and a JSON object body. No programmed answers.
- LeanWebPush: the Web Push emulator (aiohttp, on uvloop) with its VAPID check cached per Authorization value
  (exp and the subscription's key still checked on every request) and one payload in DECRYPT_EVERY decrypted
  and checked (the others: size and aes128gcm header only). No programmed answers.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import ssl
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import jwt
import orjson
import trustme
import uvloop
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.support.emulators.apns import PUSH_TYPES, Received, SigningKey, _token_from_path
from tests.support.emulators.webpush import (
    MAX_BODY,
    EmulatedSubscription,
    WebPushEmulator,
    _check_push_headers,
    _decrypt,
    _Refused,
)

DECRYPT_EVERY = 16
TOKEN_MAX_AGE = 3600


class LeanWebPush(WebPushEmulator):
    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, int, str]] = []
        self._verified: dict[tuple[str, str | None], tuple[dict[str, Any], str]] = {}
        self._seen = 0

    def __enter__(self) -> LeanWebPush:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # this process only (a gateway of its own)
        super().__enter__()
        return self

    def _check_vapid(self, header: str | None, sub: EmulatedSubscription) -> tuple[dict[str, Any], str]:
        cache_key = (header or "", sub.application_server_key)
        cached = self._verified.get(cache_key)
        if cached is None:
            cached = self._verified[cache_key] = super()._check_vapid(header, sub)
        claims, token = cached
        if not self._clock() < claims["exp"]:
            del self._verified[cache_key]
            raise _Refused(401, "VAPID JWT expired")
        return claims, token

    async def _handle(self, request: web.Request) -> web.Response:
        sub_id = request.match_info["id"]
        body = await request.read()
        try:
            sub = self._subscriptions.get(sub_id)
            if sub is None:
                raise _Refused(404, "no such subscription")
            headers = {name.lower(): value for name, value in request.headers.items()}
            _check_push_headers(headers)
            self._check_vapid(headers.get("authorization"), sub)
            self._seen += 1
            if self._seen % DECRYPT_EVERY == 1:
                _decrypt(body, sub)
            elif len(body) > MAX_BODY:
                raise _Refused(413, "payload too large")
            elif len(body) < 21 or body[20] != 65:
                raise _Refused(400, "aes128gcm header must carry the 65-byte sender key as key id")
        except _Refused as refused:
            self.arrivals.append((time.time(), refused.status, sub_id))
            return web.json_response({"reason": refused.why}, status=refused.status)
        self.arrivals.append((time.time(), 201, sub_id))
        return web.Response(status=201, headers={"Location": f"{self.origin}/m/{secrets.token_hex(8)}"})


_H2_CONFIG = h2.config.H2Configuration(
    client_side=False, header_encoding=None, validate_inbound_headers=False, normalize_inbound_headers=False,
    validate_outbound_headers=False, normalize_outbound_headers=False,
)


class _Refusal(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class LeanApns:
    """The ApnsEmulator's set-up API (add_key, register_device, url, sandbox_url, ca_file, requests)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.requests: list[Received] = []  # appended with empty headers and body (the bench reads the stamps)
        self._keys: dict[tuple[str, str], ec.EllipticCurvePublicKey] = {}
        self._devices: dict[str, str | None] = {}  # token -> topic (production only)
        self._verified: dict[str, int] = {}  # provider JWT -> its iat, once its signature checked out
        self._ports: dict[str, int] = {}
        self._servers: list[asyncio.AbstractServer] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def add_key(self, team_id: str = "TEAM000001") -> SigningKey:
        key_id = "K" + secrets.token_hex(5).upper()[:9]
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self._keys[(team_id, key_id)] = private.public_key()
        return SigningKey(team_id, key_id, pem)

    def register_device(self, topic: str | None = None) -> str:
        token = secrets.token_bytes(32).hex()
        self._devices[token] = topic
        return token

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self._ports['production']}"

    @property
    def sandbox_url(self) -> str:
        return f"https://{self.host}:{self._ports['sandbox']}"

    @property
    def ca_file(self) -> Path:
        assert self._tmp is not None
        return Path(self._tmp.name) / "ca.pem"

    def __enter__(self) -> LeanApns:
        self._tmp = tempfile.TemporaryDirectory(prefix="lean-apns-")
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(self.ca_file))
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(self.host, "localhost").configure_cert(tls)
        tls.set_alpn_protocols(["h2"])
        loop = self._loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="lean-apns", daemon=True)
        self._thread.start()
        for environment in ("production", "sandbox"):
            factory = functools.partial(_Connection, self, environment)
            server = asyncio.run_coroutine_threadsafe(
                loop.create_server(factory, self.host, 0, ssl=tls, backlog=1024), loop
            ).result(10)
            self._servers.append(server)
            self._ports[environment] = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._thread is not None:
            for server in self._servers:
                self._loop.call_soon_threadsafe(server.close)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if self._tmp is not None:
            self._tmp.cleanup()

    def judge(self, environment: str, headers: dict[bytes, bytes], body: bytes) -> tuple[str | None, int, str]:
        """(token, status, reason) for one request."""
        token = _token_from_path(headers.get(b":path", b"").decode())
        try:
            if headers.get(b":method") != b"POST":
                raise _Refusal(405, "MethodNotAllowed")
            if token is None:
                raise _Refusal(404, "BadPath")
            self._check_provider_token(headers.get(b"authorization", b"").decode())
            topic = headers.get(b"apns-topic", b"").decode()
            if not topic:
                raise _Refusal(400, "MissingTopic")
            if headers.get(b"apns-push-type", b"").decode() not in PUSH_TYPES:
                raise _Refusal(400, "InvalidPushType")
            if not body or len(body) > 4096:
                raise _Refusal(413 if body else 400, "PayloadTooLarge" if body else "PayloadEmpty")
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise _Refusal(400, "BadPayload") from None
            if not isinstance(parsed, dict) or not isinstance(parsed.get("aps", {}), dict):
                raise _Refusal(400, "BadPayload")
            if environment != "production" or token not in self._devices:
                raise _Refusal(400, "BadDeviceToken")
            if self._devices[token] not in (None, topic):
                raise _Refusal(400, "DeviceTokenNotForTopic")
        except _Refusal as refused:
            return token, refused.status, refused.reason
        return token, 200, ""

    def _check_provider_token(self, authorization: str) -> None:
        if not authorization.startswith("bearer "):
            raise _Refusal(403, "MissingProviderToken")
        token = authorization[len("bearer ") :]
        iat = self._verified.get(token)
        if iat is None:
            try:
                kid = jwt.get_unverified_header(token).get("kid")
                claims = jwt.decode(token, options={"verify_signature": False})
                key = self._keys.get((str(claims.get("iss")), str(kid)))
                if key is None or not isinstance(claims.get("iat"), int):
                    raise _Refusal(403, "InvalidProviderToken")
                jwt.decode(token, key, algorithms=["ES256"], options={"verify_iat": False, "verify_exp": False})
            except jwt.PyJWTError:
                raise _Refusal(403, "InvalidProviderToken") from None
            iat = self._verified[token] = claims["iat"]
        if time.time() - iat > TOKEN_MAX_AGE:
            raise _Refusal(403, "ExpiredProviderToken")

    def record(self, environment: str, token: str | None, status: int, reason: str) -> None:
        self.requests.append(Received(environment, token, {}, b"", status, reason or None, ("", 0), "2"))  # type: ignore[arg-type]


class _Connection(asyncio.Protocol):
    def __init__(self, gateway: LeanApns, environment: str) -> None:
        self.gateway = gateway
        self.environment = environment
        self.h2 = h2.connection.H2Connection(config=_H2_CONFIG)
        self.streams: dict[int, tuple[dict[bytes, bytes], list[bytes]]] = {}
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's SSL transport is no asyncio.Transport
        self.h2.initiate_connection()
        self.h2.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000})
        self.h2.increment_flow_control_window(2**30)
        self.transport.write(self.h2.data_to_send())

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.transport.write(self.h2.data_to_send())
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.streams[event.stream_id] = (dict(event.headers), [])
            elif isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None and event.data:
                    stream[1].append(event.data)
                if event.flow_controlled_length:
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self._answer(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.streams.pop(event.stream_id, None)
        self.transport.write(self.h2.data_to_send())

    def _answer(self, stream_id: int) -> None:
        headers, chunks = self.streams.pop(stream_id, ({}, []))
        token, status, reason = self.gateway.judge(self.environment, headers, b"".join(chunks))
        self.gateway.record(self.environment, token, status, reason)
        apns_id = headers.get(b"apns-id") or str(uuid.uuid4()).encode()
        answer = [(b":status", str(status).encode()), (b"apns-id", apns_id)]
        if status == 200:
            self.h2.send_headers(stream_id, answer, end_stream=True)
            return
        self.h2.send_headers(stream_id, [*answer, (b"content-type", b"application/json")])
        self.h2.send_data(stream_id, orjson.dumps({"reason": reason}), end_stream=True)

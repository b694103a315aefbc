"""A local APNs emulator: HTTP/2 over TLS (hypercorn), checking what Apple's gateway checks.

    with ApnsEmulator(clock=clock) as apns:                 # or `async with`; a thread serves either way
        key = apns.add_key()                                # a P-256 .p8 key registered for (team, key id)
        token = apns.register_device(topic="com.example.app")
        provider = ApnsProvider(apns.url, apns.sandbox_url, apns.ca_file, clock=clock)
        instance = Instance(..., providers={"apns": key.settings()})
        ...
        apns.requests[-1].body["data"]["pusher"]            # every request is recorded, refused ones too
        apns.answer(token, 410)                             # this token answers 410 Unregistered from now on
        apns.answer_next(3, 503)                            # the next 3 valid requests get 503 ServiceUnavailable

Two listening ports share one state: `url` plays api.push.apple.com, `sandbox_url` plays
api.sandbox.push.apple.com. A device token belongs to one environment, as on Apple's side, so a token sent to the
other gateway is BadDeviceToken.

What is checked, in order (status, Apple's reason): HTTP/2 only (505 HTTP2Required, an emulator-only reason:
real APNs has no HTTP/1.1 to answer on), POST (405 MethodNotAllowed), path /3/device/<token> (404 BadPath),
the provider JWT (403 MissingProviderToken | InvalidProviderToken: ES256 signature by the key registered for
kid + iss, iat not in the future | ExpiredProviderToken: iat over an hour old; 429 TooManyProviderTokenUpdates:
an iat other than the last accepted one for that (team, key id) and less than 20 minutes from it, unless
`throttle_token_updates=False`), headers (400 MissingTopic, InvalidPushType, BadPriority, BadExpirationDate,
BadCollapseId, BadMessageId), the body (400 PayloadEmpty, 413 PayloadTooLarge over 4096 bytes, 400 BadPayload
when not a JSON object: emulator-only), then the answers a test queued, then the token (400 BadDeviceToken unless
registered and hex in this environment, DeviceTokenNotForTopic when registered for another topic), then the
token's own answer, else 200.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jwt
import orjson
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypercorn.asyncio import serve
from hypercorn.config import Config

Environment = Literal["production", "sandbox"]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PUSH_TYPES = frozenset(
    {"alert", "background", "location", "voip", "complication", "fileprovider", "mdm", "liveactivity", "pushtotalk"}
)
MAX_PAYLOAD = 4096
MAX_VOIP_PAYLOAD = 5120
TOKEN_MAX_AGE = 3600  # Apple: a provider token older than an hour is ExpiredProviderToken
TOKEN_MIN_UPDATE_INTERVAL = 20 * 60  # Apple: renewing more often than every 20 minutes is throttled
DEFAULT_REASONS = {
    400: "BadDeviceToken",
    403: "ExpiredProviderToken",
    410: "Unregistered",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}

_HEX = re.compile(r"(?:[0-9a-f]{2})+")

log = logging.getLogger("tests.apns_emulator")


@dataclass(frozen=True)
class SigningKey:
    """A .p8 key as Apple hands it out, registered with the emulator for (team_id, key_id)."""

    team_id: str
    key_id: str
    private_key_pem: str = field(repr=False)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """What goes in `instance.providers["apns"]` for this key (plus topic / environment overrides)."""
        return {"key_id": self.key_id, "team_id": self.team_id, "private_key": self.private_key_pem, **overrides}


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str | None = None
    retry_after: str | None = None
    timestamp_ms: int | None = None  # 410 bodies carry when APNs learnt the token was no longer valid


@dataclass(frozen=True)
class Received:
    """One request as the emulator saw it, and what it answered."""

    environment: Environment
    token: str | None
    headers: dict[str, str]
    raw: bytes
    status: int
    reason: str | None
    client: tuple[str, int]  # the connection's (host, port): tells connections apart
    http_version: str

    @property
    def body(self) -> Any:
        return orjson.loads(self.raw)

    @property
    def jwt(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[len("bearer ") :] if value.startswith("bearer ") else None


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.answer = Answer(status, reason)


class ApnsEmulator:
    def __init__(
        self, *, clock: Callable[[], float] = time.time, host: str = "127.0.0.1", throttle_token_updates: bool = True
    ) -> None:
        """`throttle_token_updates`: Apple's rule that a key's provider token may change at most every 20
        minutes (429 TooManyProviderTokenUpdates); off, any valid token is accepted whatever the last one was."""
        self.host = host
        self.clock = clock
        self.throttle_token_updates = throttle_token_updates
        self.requests: list[Received] = []
        self._keys: dict[tuple[str, str], ec.EllipticCurvePublicKey] = {}
        self._devices: dict[str, tuple[Environment, str | None]] = {}  # token -> (environment, topic)
        self._answers: dict[str, Answer] = {}
        self._queued: list[Answer] = []
        self._last_iat: dict[tuple[str, str], int] = {}
        self._cond = threading.Condition()
        self._ports: dict[int, Environment] = {}
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._ca_file: Path | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> ApnsEmulator:
        self._tmp = tempfile.TemporaryDirectory(prefix="apns-emulator-")
        certfile, keyfile = self._write_tls(Path(self._tmp.name))
        binds = []
        for environment in ("production", "sandbox"):
            # Bound and listening before the thread starts: the ports are known at once and early connects queue.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((self.host, 0))
            sock.listen(128)
            self._ports[sock.getsockname()[1]] = environment
            binds.append(f"fd://{sock.detach()}")
        config = Config()
        config.bind = binds
        config.certfile, config.keyfile = str(certfile), str(keyfile)
        config.alpn_protocols = ["h2"]  # APNs offers HTTP/2 only
        config.h2_max_concurrent_streams = 1000  # what APNs announces once a provider token is accepted
        config.keep_alive_timeout = 300  # providers keep connections open; do not close them under a test
        # hypercorn closes a connection after 1000 requests by default; APNs does not, and a close mid-burst
        # makes the provider resend requests that were already delivered.
        config.keep_alive_max_requests = 10**9
        config.graceful_timeout = 0.5
        config.errorlog = log
        self._thread = threading.Thread(target=self._run, args=(config,), name="apns-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"APNs emulator did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> ApnsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> ApnsEmulator:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def _run(self, config: Config) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            await serve(self._app, config, shutdown_trigger=self._stopping.wait)  # type: ignore[arg-type]

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start(), or visible in the log when it happens later
            self._error = exc
            self._ready.set()
            log.exception("APNs emulator stopped")

    def _write_tls(self, directory: Path) -> tuple[Path, Path]:
        ca = trustme.CA()
        leaf = ca.issue_cert(self.host, "localhost")
        self._ca_file = directory / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        certfile, keyfile = directory / "cert.pem", directory / "key.pem"
        leaf.private_key_pem.write_to_path(str(keyfile))
        with certfile.open("wb") as f:
            for blob in leaf.cert_chain_pems:
                f.write(blob.bytes())
        return certfile, keyfile

    @property
    def ca_file(self) -> Path:
        """PEM of the CA that signed the emulator's certificate: the provider's `ca_file`."""
        assert self._ca_file is not None, "APNs emulator not started"
        return self._ca_file

    def _port(self, environment: Environment) -> int:
        return next(port for port, env in self._ports.items() if env == environment)

    @property
    def url(self) -> str:
        """The production gateway (api.push.apple.com)."""
        return f"https://{self.host}:{self._port('production')}"

    @property
    def sandbox_url(self) -> str:
        """The development gateway (api.sandbox.push.apple.com)."""
        return f"https://{self.host}:{self._port('sandbox')}"

    # -- what a test sets up ---------------------------------------------------------------------------------
    def add_key(self, team_id: str = "TEAM000001", key_id: str | None = None) -> SigningKey:
        """A fresh P-256 key, registered for (team_id, key_id): what the developer portal's "Keys" page gives."""
        key_id = key_id or "K" + secrets.token_hex(5).upper()[:9]
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        with self._cond:
            self._keys[(team_id, key_id)] = private.public_key()
        return SigningKey(team_id, key_id, pem)

    def register_device(
        self, topic: str | None = None, *, environment: Environment = "production", token: str | None = None
    ) -> str:
        """A device token valid in `environment`, for `topic` (any topic when None). Returns the hex token."""
        token = (token or secrets.token_bytes(32).hex()).lower()
        with self._cond:
            self._devices[token] = (environment, topic)
        return token

    def answer(
        self, token: str, status: int | None, reason: str | None = None, *, retry_after: str | None = None
    ) -> None:
        """From now on, answer requests for `token` with this status (None: back to normal)."""
        with self._cond:
            if status is None:
                self._answers.pop(token.lower(), None)
            else:
                self._answers[token.lower()] = self._make_answer(status, reason, retry_after)

    def unregister(self, token: str, at: float | None = None) -> None:
        """The app was removed from the device: 410 Unregistered, with the time APNs learnt it."""
        when = self.clock() if at is None else at
        with self._cond:
            self._answers[token.lower()] = Answer(410, "Unregistered", timestamp_ms=int(when * 1000))

    def answer_next(
        self, count: int, status: int, reason: str | None = None, *, retry_after: str | None = None
    ) -> None:
        """Answer the next `count` well-formed, authenticated requests (any token) with this status."""
        with self._cond:
            self._queued.extend([self._make_answer(status, reason, retry_after)] * count)

    def _make_answer(self, status: int, reason: str | None, retry_after: str | None) -> Answer:
        timestamp = int(self.clock() * 1000) if status == 410 else None
        return Answer(status, reason or DEFAULT_REASONS.get(status), retry_after, timestamp)

    # -- what a test reads -----------------------------------------------------------------------------------
    def received(self, token: str | None = None, status: int | None = None) -> list[Received]:
        with self._cond:
            return [
                r
                for r in self.requests
                if (token is None or r.token == token.lower()) and (status is None or r.status == status)
            ]

    def delivered(self, token: str | None = None) -> list[Received]:
        return self.received(token, 200)

    @property
    def connections(self) -> set[tuple[str, int]]:
        """Distinct client connections that sent HTTP/2 requests."""
        with self._cond:
            return {r.client for r in self.requests if r.http_version == "2"}

    def wait_for(self, count: int, timeout: float = 30, status: int | None = 200) -> list[Received]:
        """Block until `count` requests (with this status; None: any) arrived; for tests driving a server."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self.requests if status is None or r.status == status]
                if len(got) >= count:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"APNs emulator: {len(got)} request(s) within {timeout}s, expected {count}")
                self._cond.wait(remaining)

    async def wait_for_async(self, count: int, timeout: float = 30, status: int | None = 200) -> list[Received]:
        return await asyncio.to_thread(self.wait_for, count, timeout, status)

    # -- the gateway ---------------------------------------------------------------------------------------
    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        raw = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        environment = self._ports.get(scope["server"][1], "production")
        token = _token_from_path(scope["path"])
        try:
            answer = self._judge(scope, environment, token, headers, raw)
        except _Refused as refused:
            answer = refused.answer
        received = Received(
            environment,
            token,
            headers,
            raw,
            answer.status,
            answer.reason,
            tuple(scope["client"]),
            scope["http_version"],
        )
        with self._cond:
            self.requests.append(received)
            self._cond.notify_all()
        await _respond(send, answer, headers.get("apns-id") or str(uuid.uuid4()))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
                self._ready.set()
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _judge(
        self, scope: Scope, environment: Environment, token: str | None, headers: dict[str, str], raw: bytes
    ) -> Answer:
        if scope["http_version"] != "2":
            raise _Refused(505, "HTTP2Required")
        if scope["method"] != "POST":
            raise _Refused(405, "MethodNotAllowed")
        if token is None:
            raise _Refused(404, "BadPath")
        self._check_provider_token(headers.get("authorization"))
        _check_headers(headers)
        _check_body(raw, headers.get("apns-push-type"))
        with self._cond:
            if self._queued:
                return self._queued.pop(0)
            device = self._devices.get(token)
            answer = self._answers.get(token)
        if device is None or device[0] != environment or not _is_hex(token):
            raise _Refused(400, "BadDeviceToken")
        if device[1] is not None and device[1] != headers["apns-topic"]:
            raise _Refused(400, "DeviceTokenNotForTopic")
        return answer or Answer(200)

    def _check_provider_token(self, authorization: str | None) -> None:
        if not authorization or not authorization.startswith("bearer "):
            raise _Refused(403, "MissingProviderToken")
        token = authorization[len("bearer ") :]
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _Refused(403, "InvalidProviderToken") from None
        team, kid, iat = claims.get("iss"), header.get("kid"), claims.get("iat")
        with self._cond:
            public_key = self._keys.get((str(team), str(kid)))
        if header.get("alg") != "ES256" or public_key is None or not isinstance(iat, int):
            raise _Refused(403, "InvalidProviderToken")
        try:
            # Time checks are done below against the emulator's clock, which tests may have moved.
            jwt.decode(token, public_key, algorithms=["ES256"], options={"verify_iat": False, "verify_exp": False})
        except jwt.PyJWTError:
            raise _Refused(403, "InvalidProviderToken") from None
        now = self.clock()
        if iat > now:
            raise _Refused(403, "InvalidProviderToken")
        if now - iat > TOKEN_MAX_AGE:
            raise _Refused(403, "ExpiredProviderToken")
        with self._cond:
            last = self._last_iat.get((str(team), str(kid)))
            if (
                self.throttle_token_updates
                and last is not None
                and last != iat
                and abs(iat - last) < TOKEN_MIN_UPDATE_INTERVAL
            ):
                raise _Refused(429, "TooManyProviderTokenUpdates")
            self._last_iat[(str(team), str(kid))] = iat


def _check_headers(headers: dict[str, str]) -> None:
    if not headers.get("apns-topic"):
        raise _Refused(400, "MissingTopic")
    if headers.get("apns-push-type") not in PUSH_TYPES:
        raise _Refused(400, "InvalidPushType")
    if "apns-priority" in headers and headers["apns-priority"] not in ("1", "5", "10"):
        raise _Refused(400, "BadPriority")
    if "apns-expiration" in headers and not headers["apns-expiration"].isdigit():
        raise _Refused(400, "BadExpirationDate")
    if len(headers.get("apns-collapse-id", "").encode()) > 64:
        raise _Refused(400, "BadCollapseId")
    if "apns-id" in headers:
        try:
            uuid.UUID(headers["apns-id"])
        except ValueError:
            raise _Refused(400, "BadMessageId") from None


def _check_body(raw: bytes, push_type: str | None) -> None:
    if not raw:
        raise _Refused(400, "PayloadEmpty")
    if len(raw) > (MAX_VOIP_PAYLOAD if push_type == "voip" else MAX_PAYLOAD):
        raise _Refused(413, "PayloadTooLarge")
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Refused(400, "BadPayload") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("aps", {}), dict):
        raise _Refused(400, "BadPayload")


def _token_from_path(path: str) -> str | None:
    prefix = "/3/device/"
    if not path.startswith(prefix) or len(path) == len(prefix) or "/" in path[len(prefix) :]:
        return None
    return path[len(prefix) :].lower()


def _is_hex(token: str) -> bool:
    return _HEX.fullmatch(token) is not None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, answer: Answer, apns_id: str) -> None:
    headers = [(b"apns-id", apns_id.encode())]
    body = b""
    if answer.status != 200:
        error: dict[str, Any] = {"reason": answer.reason}
        if answer.timestamp_ms is not None:
            error["timestamp"] = answer.timestamp_ms
        body = orjson.dumps(error)
        headers.append((b"content-type", b"application/json"))
    if answer.retry_after is not None:
        headers.append((b"retry-after", answer.retry_after.encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

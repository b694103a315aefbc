"""FCM HTTP v1 and its OAuth2 token endpoint in-process, strict about what the real ones check.

    async with FcmEmulator() as fcm:                      # from async tests (same event loop)
        account = fcm.new_service_account("demo-project")  # RSA key + service-account JSON, registered here
        instance.providers["fcm"] = {"service_account": account.info}
        ...                                               # FcmProvider(fcm.url, fcm.token_url, None)
        got = fcm.received[-1]                            # project, token, status, the v1 `message` sent

    with FcmEmulator() as fcm:                            # from sync tests: runs its own loop in a thread
        ...
        fcm.wait_for(1)

`POST /token` is Google's JWT-bearer grant (RFC 7523): grant_type urn:ietf:params:oauth:grant-type:jwt-bearer
and an RS256 assertion signed by a registered service account (iss = client_email, kid = private_key_id when
given, aud = this token URL, scope includes firebase.messaging, exp in the future, at most 1 h after iat).
Answers {access_token, expires_in, token_type: "Bearer"}, or OAuth2 errors (400 invalid_grant ...).

`POST /v1/projects/{project}/messages:send` checks, in FCM's order: the bearer token (issued here, not expired on
the emulator's clock, not revoked: else 401 UNAUTHENTICATED), the project (the token's service account must
belong to it: else 403 PERMISSION_DENIED), the message shape (exactly one target, a token, string data values, no
reserved data keys, known notification/android fields, ttl "<seconds>s", priority NORMAL|HIGH: else 400
INVALID_ARGUMENT naming the field). Then it answers 200 {"name": "projects/<p>/messages/<id>"}, or what
`answer(...)` programmed for one device token or for the next N sends (see the Answer constructors).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 3600
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"

# The v1 schema's field names (Message, Notification, AndroidConfig, AndroidNotification).
_MESSAGE_FIELDS = frozenset("name data notification android webpush apns fcm_options token topic condition".split())
_NOTIFICATION_FIELDS = frozenset("title body image".split())
_ANDROID_FIELDS = frozenset(
    "collapse_key priority ttl restricted_package_name data notification fcm_options direct_boot_ok".split()
)
_ANDROID_STRINGS = frozenset(
    "title body icon color sound tag click_action body_loc_key title_loc_key channel_id ticker image".split()
)
_ANDROID_NOTIFICATION_FIELDS = _ANDROID_STRINGS | frozenset(
    "body_loc_args title_loc_args sticky event_time local_only notification_priority default_sound visibility "
    "default_vibrate_timings default_light_settings vibrate_timings notification_count light_settings "
    "bypass_proxy_notification".split()
)
_RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type"})
_TTL = re.compile(r"\d+(\.\d{1,9})?s")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


# ------------------------------------------------------------------------------------------ service accounts
@dataclass(frozen=True)
class TestServiceAccount:
    """A Google service account made for a test: its RSA key and the JSON Firebase would let you download."""

    __test__ = False  # not a pytest test class, despite the name

    project_id: str
    client_email: str
    private_key_id: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    token_uri: str = "https://oauth2.googleapis.com/token"

    @property
    def private_key_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @property
    def info(self) -> dict[str, Any]:
        """The service-account JSON, with every field Google's download has."""
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": self.private_key_pem,
            "client_email": self.client_email,
            "client_id": str(secrets.randbelow(10**20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{self.client_email}",
            "universe_domain": "googleapis.com",
        }


def make_service_account(
    project_id: str = "tidings-test", token_uri: str = "https://oauth2.googleapis.com/token", *, fresh_key: bool = False
) -> TestServiceAccount:
    """A new service account for `project_id`; register it with an emulator to use it.

    Accounts share one RSA key unless `fresh_key` (a 2048-bit key takes ~0.1-0.5 s to make); they differ in
    client_email and private_key_id, which is what the emulator and the provider's token cache tell them apart by.
    """
    name = f"firebase-adminsdk-{secrets.token_hex(3)}"
    return TestServiceAccount(
        project_id=project_id,
        client_email=f"{name}@{project_id}.iam.gserviceaccount.com",
        private_key_id=secrets.token_hex(20),
        private_key=_new_key() if fresh_key else _shared_key(),
        token_uri=token_uri,
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def _shared_key() -> rsa.RSAPrivateKey:
    return _new_key()


# ------------------------------------------------------------------------------------------ programmed answers
@dataclass(frozen=True)
class Answer:
    """One FCM answer: status, JSON body and extra headers. Build with the constructors below."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(
        cls,
        status: int,
        rpc_status: str,
        message: str,
        error_code: str | None = None,
        retry_after: int | str | None = None,
    ) -> Answer:
        """A google.rpc.Status error body, with an FcmError detail when `error_code` is given."""
        details: list[dict[str, Any]] = []
        if error_code is not None:
            details.append({"@type": FCM_ERROR, "errorCode": error_code})
        body = {"error": {"code": status, "message": message, "status": rpc_status, "details": details}}
        return cls(status, body, {} if retry_after is None else {"Retry-After": str(retry_after)})


def unregistered() -> Answer:
    return Answer.error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")


def invalid_token() -> Answer:
    answer = Answer.error(
        400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token", "INVALID_ARGUMENT"
    )
    violation = {"@type": BAD_REQUEST, "fieldViolations": [{"field": "message.token", "description": "Invalid"}]}
    answer.body["error"]["details"].append(violation)
    return answer


def invalid_argument(message: str = "Request contains an invalid argument.") -> Answer:
    return Answer.error(400, "INVALID_ARGUMENT", message, "INVALID_ARGUMENT")


def sender_id_mismatch() -> Answer:
    return Answer.error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH")


def unauthenticated() -> Answer:
    return Answer.error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")


def third_party_auth_error() -> Answer:
    return Answer.error(401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR")


def quota_exceeded(retry_after: int | str | None = None) -> Answer:
    return Answer.error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for sending messages", "QUOTA_EXCEEDED", retry_after)


def internal() -> Answer:
    return Answer.error(500, "INTERNAL", "Internal error encountered.", "INTERNAL")


def unavailable(retry_after: int | str | None = None) -> Answer:
    return Answer.error(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE", retry_after)


# ------------------------------------------------------------------------------------------ what was seen
@dataclass(frozen=True)
class ReceivedMessage:
    project: str
    status: int  # what the emulator answered
    message: dict[str, Any] | None  # the v1 `message`, when the body parsed
    access_token: str | None
    error: str | None = None  # why it was refused (auth, project, shape) or the programmed answer's message

    @property
    def token(self) -> str | None:
        return self.message.get("token") if self.message else None


@dataclass(frozen=True)
class TokenRequest:
    status: int
    client_email: str | None
    claims: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class _Issued:
    account: TestServiceAccount
    expires_at: float
    revoked: bool = False


@dataclass
class _Rule:
    answer: Answer
    device_token: str | None  # None: any device
    remaining: int | None  # None: until reset()


class _Refused(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body)
        self.answer = answer


# ------------------------------------------------------------------------------------------ the emulator
class FcmEmulator:
    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
        expires_in: int = 3600,
    ) -> None:
        self.host = host
        self._ssl = ssl_context
        self._clock = clock
        self.expires_in = expires_in  # what the token endpoint grants; tests may change it between requests
        self._accounts: dict[str, TestServiceAccount] = {}
        self._issued: dict[str, _Issued] = {}
        self._rules: list[_Rule] = []
        self._token_rules: list[tuple[int, dict[str, Any], dict[str, str], int]] = []
        self._received: list[ReceivedMessage] = []
        self._token_requests: list[TokenRequest] = []
        self._ids = itertools.count(1)
        self._cond = threading.Condition()  # requests are handled on the emulator's loop, read from any thread
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> FcmEmulator:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/v1/projects/{project}/messages:send", self._send)
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

    async def __aenter__(self) -> FcmEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __enter__(self) -> FcmEmulator:
        # Sync tests: a private loop in a daemon thread, so the test thread may block in wait_for().
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fcm-emulator", daemon=True)
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
    def url(self) -> str:
        """The FCM base URL (what `fcm_url` is set to)."""
        assert self._port, "emulator not started"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self._ssl else 'http'}://{host}:{self._port}"

    @property
    def token_url(self) -> str:
        """The OAuth2 token endpoint (what `fcm_token_url` is set to, and the assertion's aud)."""
        return f"{self.url}/token"

    # ------------------------------------------------------------------------------------ test helpers
    def new_service_account(self, project_id: str = "tidings-test", *, fresh_key: bool = False) -> TestServiceAccount:
        """A new service account whose token_uri is this emulator, registered here."""
        account = make_service_account(project_id, self.token_url, fresh_key=fresh_key)
        self.add_service_account(account)
        return account

    def add_service_account(self, account: TestServiceAccount) -> None:
        with self._cond:
            self._accounts[account.client_email] = account

    def answer(self, answer: Answer, *, token: str | None = None, times: int | None = None) -> None:
        """Answer `answer` to valid sends: for device `token` (else any), `times` times (else until reset())."""
        with self._cond:
            self._rules.append(_Rule(answer, token, times))

    def answer_token_endpoint(
        self, status: int, error: str = "invalid_grant", *, times: int = 1, retry_after: int | None = None
    ) -> None:
        """Make the next `times` token requests fail with `status` and OAuth2 error `error`."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        with self._cond:
            self._token_rules.append((status, {"error": error, "error_description": "emulated"}, headers, times))

    def revoke_access_tokens(self) -> None:
        """Every access token issued so far stops working (401), as after a key was disabled and re-enabled."""
        with self._cond:
            for issued in self._issued.values():
                issued.revoked = True

    def reset(self) -> None:
        with self._cond:
            self._rules.clear()
            self._token_rules.clear()
            self._received.clear()
            self._token_requests.clear()

    @property
    def received(self) -> list[ReceivedMessage]:
        with self._cond:
            return list(self._received)

    @property
    def delivered(self) -> list[ReceivedMessage]:
        return [m for m in self.received if m.status == 200]

    @property
    def token_requests(self) -> list[TokenRequest]:
        with self._cond:
            return list(self._token_requests)

    @property
    def tokens_issued(self) -> int:
        return sum(1 for r in self.token_requests if r.status == 200)

    def wait_for(self, count: int = 1, *, timeout: float = 30.0) -> list[ReceivedMessage]:
        """Block until `count` send requests arrived. Not from the emulator's own loop."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"fcm emulator: {len(self._received)} send(s) in {timeout}s, expected {count}")
                self._cond.wait(remaining)
            return list(self._received)

    async def wait_for_async(self, count: int = 1, *, timeout: float = 30.0) -> list[ReceivedMessage]:
        return await asyncio.to_thread(self.wait_for, count, timeout=timeout)

    # --------------------------------------------------------------------------------------- token endpoint
    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            email, claims = self._check_grant(str(form.get("grant_type", "")), str(form.get("assertion", "")))
        except _Refused as refused:
            body = refused.answer.body
            self._record_token(TokenRequest(refused.answer.status, None, None, str(body.get("error"))))
            return web.json_response(body, status=refused.answer.status)
        with self._cond:
            if self._token_rules:
                status, body, headers, times = self._token_rules[0]
                self._token_rules[0] = (status, body, headers, times - 1)
                if times <= 1:
                    self._token_rules.pop(0)
                self._token_requests.append(TokenRequest(status, email, claims, str(body["error"])))
                return web.json_response(body, status=status, headers=headers)
            access_token = "ya29.emulated-" + secrets.token_urlsafe(32)
            self._issued[access_token] = _Issued(self._accounts[email], self._clock() + self.expires_in)
            self._token_requests.append(TokenRequest(200, email, claims))
            self._cond.notify_all()
        return web.json_response({"access_token": access_token, "expires_in": self.expires_in, "token_type": "Bearer"})

    def _check_grant(self, grant_type: str, assertion: str) -> tuple[str, dict[str, Any]]:
        if grant_type != GRANT_TYPE:
            raise _oauth_error("unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
        try:
            header = jwt.get_unverified_header(assertion)
            email = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
        except jwt.InvalidTokenError:
            raise _oauth_error("invalid_grant", "assertion is not a JWT") from None
        with self._cond:
            account = self._accounts.get(str(email))
        if account is None:
            raise _oauth_error("invalid_grant", "Invalid grant: account not found")
        if header.get("alg") != "RS256" or header.get("kid", account.private_key_id) != account.private_key_id:
            raise _oauth_error("invalid_grant", "Invalid JWT Signature.")
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                account.private_key.public_key(),
                algorithms=["RS256"],
                audience=self.token_url,
                options={"require": ["iss", "aud", "iat", "exp", "scope"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError as exc:
            raise _oauth_error("invalid_grant", f"Invalid JWT: {exc}") from None
        now = self._clock()
        iat, exp = claims["iat"], claims["exp"]
        if not (isinstance(iat, int) and isinstance(exp, int)) or not (iat - 60 <= now < exp):
            raise _oauth_error(
                "invalid_grant", "Invalid JWT: Token must be a short-lived token in a reasonable timeframe"
            )
        if exp - iat > MAX_ASSERTION_LIFETIME:
            raise _oauth_error("invalid_grant", "Invalid JWT: exp is more than 1 hour after iat")
        if SCOPE not in str(claims["scope"]).split():
            raise _oauth_error("invalid_scope", f"scope must include {SCOPE}")
        return account.client_email, claims

    def _record_token(self, request: TokenRequest) -> None:
        with self._cond:
            self._token_requests.append(request)
            self._cond.notify_all()

    # --------------------------------------------------------------------------------------- messages:send
    async def _send(self, request: web.Request) -> web.Response:
        project = request.match_info["project"]
        scheme, _, access_token = request.headers.get("Authorization", "").partition(" ")
        message: dict[str, Any] | None = None
        try:
            self._check_access(scheme, access_token, project)
            message = _parse_message(await request.read())
            _check_message(message)
        except _Refused as refused:
            return self._reply(project, message, access_token or None, refused.answer)
        rule = self._take_rule(str(message["token"]))
        if rule is not None:
            return self._reply(project, message, access_token, rule.answer)
        ok = Answer(200, {"name": f"projects/{project}/messages/{next(self._ids)}"})
        return self._reply(project, message, access_token, ok)

    def _check_access(self, scheme: str, access_token: str, project: str) -> None:
        with self._cond:
            issued = self._issued.get(access_token)
        if scheme != "Bearer" or issued is None or issued.revoked or self._clock() >= issued.expires_at:
            raise _Refused(unauthenticated())
        if issued.account.project_id != project:
            message = f"Permission 'cloudmessaging.messages.create' denied on resource 'projects/{project}'"
            raise _Refused(Answer.error(403, "PERMISSION_DENIED", message))

    def _take_rule(self, device_token: str) -> _Rule | None:
        with self._cond:
            # A rule for this device wins over a rule for any device.
            for rule in sorted(self._rules, key=lambda r: r.device_token is None):
                if rule.device_token in (None, device_token):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            self._rules.remove(rule)
                    return rule
        return None

    def _reply(
        self, project: str, message: dict[str, Any] | None, access_token: str | None, answer: Answer
    ) -> web.Response:
        error = answer.body.get("error", {}).get("message") if answer.status != 200 else None
        with self._cond:
            self._received.append(ReceivedMessage(project, answer.status, message, access_token, error))
            self._cond.notify_all()
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)


def _oauth_error(error: str, description: str) -> _Refused:
    return _Refused(Answer(400, {"error": error, "error_description": description}))


def _bad(field_path: str, description: str) -> _Refused:
    answer = Answer.error(
        400, "INVALID_ARGUMENT", f"Invalid value at '{field_path}': {description}", "INVALID_ARGUMENT"
    )
    answer.body["error"]["details"].append(
        {"@type": BAD_REQUEST, "fieldViolations": [{"field": field_path, "description": description}]}
    )
    return _Refused(answer)


def _parse_message(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise _bad("", "Invalid JSON payload received.") from None
    if (
        not isinstance(body, dict)
        or set(body) - {"message", "validate_only"}
        or not isinstance(body.get("message"), dict)
    ):
        raise _bad("message", 'the body must be {"message": {...}}')
    message: dict[str, Any] = body["message"]
    return message


def _check_message(message: dict[str, Any]) -> None:
    _only(message, _MESSAGE_FIELDS, "message")
    targets = [key for key in ("token", "topic", "condition") if key in message]
    if targets != ["token"]:
        raise _bad("message", "exactly one of token, topic or condition is required (this emulator: token)")
    if not isinstance(message["token"], str) or not message["token"]:
        raise _bad("message.token", "The registration token is not a valid FCM registration token")
    _check_data(message.get("data"), "message.data")
    if "notification" in message:
        _only(message["notification"], _NOTIFICATION_FIELDS, "message.notification")
        _strings(message["notification"], "message.notification")
    android = message.get("android")
    if android is None:
        return
    _only(android, _ANDROID_FIELDS, "message.android")
    if "ttl" in android and not (isinstance(android["ttl"], str) and _TTL.fullmatch(android["ttl"])):
        raise _bad("message.android.ttl", 'a Duration such as "3600s" is required')
    if "priority" in android and android["priority"] not in ("NORMAL", "HIGH"):
        raise _bad("message.android.priority", "must be NORMAL or HIGH")
    for key in ("collapse_key", "restricted_package_name"):
        if key in android and not isinstance(android[key], str):
            raise _bad(f"message.android.{key}", "must be a string")
    _check_data(android.get("data"), "message.android.data")
    if "notification" in android:
        _check_android_notification(android["notification"])


def _check_android_notification(notification: Any) -> None:
    path = "message.android.notification"
    _only(notification, _ANDROID_NOTIFICATION_FIELDS, path)
    for key in ("body_loc_args", "title_loc_args"):
        args = notification.get(key, [])
        if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
            raise _bad(f"{path}.{key}", "must be a list of strings")
    _strings({k: v for k, v in notification.items() if k in _ANDROID_STRINGS}, path)
    if "color" in notification and not _COLOR.fullmatch(notification["color"]):
        raise _bad(f"{path}.color", "must be #rrggbb")


def _check_data(data: Any, path: str) -> None:
    if data is None:
        return
    if not isinstance(data, dict):
        raise _bad(path, "must be a map of strings")
    for key, value in data.items():
        if not isinstance(value, str):
            raise _bad(f"{path}[{key}]", "data values must be strings")
        if key in _RESERVED_DATA_KEYS or key.startswith(("google.", "gcm.")):
            raise _bad(f"{path}[{key}]", "reserved key")


def _only(section: Any, allowed: frozenset[str], path: str) -> None:
    if not isinstance(section, dict):
        raise _bad(path, "must be an object")
    unknown = set(section) - allowed
    if unknown:
        raise _bad(path, f"Unknown name {sorted(unknown)[0]!r}: Cannot find field.")


def _strings(section: dict[str, Any], path: str) -> None:
    for key, value in section.items():
        if not isinstance(value, str):
            raise _bad(f"{path}.{key}", "must be a string")

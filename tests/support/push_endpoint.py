"""A local Web Push service emulator, and browser-like push subscriptions to go with it.

Real browsers get their push endpoint from the browser vendor's push service; here a test makes one:

    with PushService() as push:
        sub = push.new_subscription()     # fresh P-256 key pair + 16-byte auth secret, endpoint on `push`
        sub.to_json()                     # {"endpoint", "expirationTime": None, "keys": {"p256dh", "auth"}}
        sub.token                         # what the web SDK sends as `token`: base64(JSON.stringify(sub))
        ...                               # register the device with Tidings, publish ...
        msg = push.wait_for(sub, timeout=5)
        sub.decrypt(msg.body)             # RFC 8291 (aes128gcm) decryption with the subscriber's private key

The service accepts `POST /push/<id>` and answers 201 (the status Web Push services use), or whatever
`push.respond_with[<id>]` says (e.g. 410 to play an expired subscription). Every request is recorded.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tests.support.http_service import HttpService


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


@dataclass
class Subscription:
    """A browser-side push subscription: the user agent's key pair and auth secret (RFC 8291 names)."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    auth_secret: bytes = field(repr=False)

    @classmethod
    def create(cls, base_url: str) -> Subscription:
        sub_id = secrets.token_hex(12)
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(sub_id, f"{base_url}/push/{sub_id}", key, secrets.token_bytes(16))

    @property
    def public_key_bytes(self) -> bytes:
        """The uncompressed 65-byte P-256 point (0x04 || X || Y)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @property
    def p256dh(self) -> str:
        return b64url(self.public_key_bytes)

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def to_json(self) -> dict[str, Any]:
        """PushSubscription.toJSON() as Chromium returns it (same key order)."""
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    @property
    def token(self) -> str:
        """The web SDK's device token: `btoa(JSON.stringify(subscription))` (standard base64, compact JSON)."""
        return base64.b64encode(json.dumps(self.to_json(), separators=(",", ":")).encode()).decode()

    def decrypt(self, body: bytes) -> bytes:
        """Decrypt an RFC 8188/8291 `aes128gcm` Web Push message body sent to this subscription."""
        if len(body) < 21:
            raise ValueError(f"body too short for an aes128gcm header ({len(body)} bytes)")
        salt = body[:16]
        (record_size,) = struct.unpack("!I", body[16:20])
        key_id_len = body[20]
        as_public = body[21 : 21 + key_id_len]
        ciphertext = body[21 + key_id_len :]
        if key_id_len != 65 or record_size < 18:
            raise ValueError(f"unexpected aes128gcm header: keyid length {key_id_len}, record size {record_size}")
        sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public)
        ecdh_secret = self.private_key.exchange(ec.ECDH(), sender)
        key_info = b"WebPush: info\x00" + self.public_key_bytes + as_public
        ikm = _hkdf(ecdh_secret, self.auth_secret, key_info, 32)
        cek = _hkdf(ikm, salt, b"Content-Encoding: aes128gcm\x00", 16)
        base_nonce = _hkdf(ikm, salt, b"Content-Encoding: nonce\x00", 12)
        aead = AESGCM(cek)
        out = bytearray()
        records = [ciphertext[i : i + record_size] for i in range(0, len(ciphertext), record_size)]
        if not records:
            raise ValueError("no ciphertext records")
        for seq, record in enumerate(records):
            nonce = (int.from_bytes(base_nonce, "big") ^ seq).to_bytes(12, "big")
            plain = aead.decrypt(nonce, record, None).rstrip(b"\x00")
            last = seq == len(records) - 1
            if not plain or plain[-1] != (2 if last else 1):
                raise ValueError(f"bad padding delimiter in record {seq}")
            out += plain[:-1]
        return bytes(out)


@dataclass
class PushMessage:
    subscription_id: str
    headers: dict[str, str]
    body: bytes
    status: int
    received_at: float


class PushService(HttpService):
    """Plays the browser vendor's push service on http://127.0.0.1:<port>/push/<id>, in a thread."""
    _owner_attr = "owner"
    _thread_name = "push-service"

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.messages: list[PushMessage] = []
        self.respond_with: dict[str, int] = {}
        self._cond = threading.Condition()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "push service not started"
        return f"http://{self.host}:{self._httpd.server_address[1]}"

    # -- subscriptions and messages ----------------------------------------------------------------------
    def new_subscription(self) -> Subscription:
        return Subscription.create(self.url)

    def _record(self, message: PushMessage) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def received(self, subscription: Subscription) -> list[PushMessage]:
        with self._cond:
            return [m for m in self.messages if m.subscription_id == subscription.id]

    def wait_for(self, subscription: Subscription, count: int = 1, timeout: float = 30) -> PushMessage:
        """Block until `count` messages reached this subscription; return the last. Fails after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [m for m in self.messages if m.subscription_id == subscription.id]
                if len(got) >= count:
                    return got[count - 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"push service: {len(got)} message(s) for {subscription.endpoint} within {timeout}s, "
                        f"expected {count}"
                    )
                self._cond.wait(remaining)


class _Handler(BaseHTTPRequestHandler):
    owner: PushService
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) != 2 or parts[0] != "push":
            self._reply(404)
            return
        status = self.owner.respond_with.get(parts[1], 201)
        self.owner._record(PushMessage(parts[1], {k.lower(): v for k, v in self.headers.items()}, body, status,
                                       time.time()))
        self._reply(status)

    def _reply(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


PushService._handler = _Handler

"""Small pieces shared by the bench client, the floor and the stack candidates.

Everything here is plain Python with no event loop, so the servers and the client can import it cheaply.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHANNEL = "bench"
EVENT_NAME = "tick"


@dataclass(frozen=True)
class AppCreds:
    app_id: str = "424242"
    key: str = "bench-key"
    secret: str = "bench-secret"


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def ws_accept(key: str | bytes) -> str:
    if isinstance(key, str):
        key = key.encode()
    return base64.b64encode(hashlib.sha1(key.strip() + WS_GUID).digest()).decode()


def ws_server_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """An unmasked, final server frame (RFC 6455 section 5.2)."""
    n = len(payload)
    head = bytes((0x80 | opcode,))
    if n < 126:
        return head + bytes((n,)) + payload
    if n < 65536:
        return head + b"\x7e" + n.to_bytes(2, "big") + payload
    return head + b"\x7f" + n.to_bytes(8, "big") + payload


def ws_client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked, final client frame."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes((0x80 | opcode,))
    if n < 126:
        head += bytes((0x80 | n,))
    elif n < 65536:
        head += b"\xfe" + n.to_bytes(2, "big")
    else:
        head += b"\xff" + n.to_bytes(8, "big")
    # XOR with the 4-byte mask repeated, done on big ints (payloads here are small).
    reps = mask * (n // 4 + 1)
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(reps[:n], "big")).to_bytes(n, "big")
    return head + mask + masked


def unmask(mask: bytes, data: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return b""
    reps = mask * (n // 4 + 1)
    return (int.from_bytes(data, "big") ^ int.from_bytes(reps[:n], "big")).to_bytes(n, "big")


# --- Pusher protocol messages ------------------------------------------------------------------------

def connection_established(socket_id: str, activity_timeout: int = 120) -> bytes:
    data = json.dumps({"socket_id": socket_id, "activity_timeout": activity_timeout}, separators=(",", ":"))
    return json.dumps({"event": "pusher:connection_established", "data": data}, separators=(",", ":")).encode()


def subscription_succeeded(channel: str) -> bytes:
    return json.dumps(
        {"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": "{}"},
        separators=(",", ":"),
    ).encode()


def pong() -> bytes:
    return b'{"event":"pusher:pong","data":"{}"}'


def channel_event(name: str, channel: str, data: str) -> bytes:
    return json.dumps({"event": name, "channel": channel, "data": data}, separators=(",", ":")).encode()


# --- Signed HTTP API ---------------------------------------------------------------------------------

def sign_query(method: str, path: str, params: dict[str, str], secret: str) -> str:
    """Pusher HTTP API signature: HMAC-SHA256 over METHOD\\nPATH\\nsorted query, no URL escaping."""
    query = "&".join(f"{k}={params[k]}" for k in sorted(params))
    to_sign = f"{method}\n{path}\n{query}"
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def signed_events_target(creds: AppCreds, body: bytes, timestamp: int | None = None) -> str:
    """Request target (path + query) for ``POST /apps/<id>/events`` with ``body``, signed."""
    path = f"/apps/{creds.app_id}/events"
    params = {
        "auth_key": creds.key,
        "auth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "auth_version": "1.0",
        "body_md5": hashlib.md5(body).hexdigest(),
    }
    params["auth_signature"] = sign_query("POST", path, params, creds.secret)
    return path + "?" + "&".join(f"{k}={v}" for k, v in params.items())


def verify_signed(method: str, path: str, query_string: str, body: bytes, creds: AppCreds) -> bool:
    """Server-side check used by the stack candidates (the floor skips it)."""
    params = dict(parse_qsl(query_string, keep_blank_values=True))
    signature = params.pop("auth_signature", "")
    if params.get("auth_key") != creds.key:
        return False
    if body and params.get("body_md5") != hashlib.md5(body).hexdigest():
        return False
    expected = sign_query(method, path, params, creds.secret)
    return hmac.compare_digest(expected, signature)


def event_from_trigger_body(body: bytes) -> tuple[list[str], bytes]:
    """Parse a trigger body; return its channels and the event message to fan out (serialized once)."""
    req = json.loads(body)
    channels = req.get("channels") or [req["channel"]]
    return channels, channel_event(req["name"], channels[0], req["data"])


def upgrade_request(host: str, path: str) -> bytes:
    """A WebSocket upgrade request (a fresh random key), as every bench client sends it."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def frame_header(buf: bytes) -> tuple[int, int, int]:
    """A client frame's (opcode, payload length, offset of the 4-byte mask) from at least 6 bytes of it."""
    op = buf[0] & 0x0F
    n = buf[1] & 0x7F
    pos = 2
    if n == 126:
        n = int.from_bytes(buf[2:4], "big")
        pos = 4
    elif n == 127:
        n = int.from_bytes(buf[2:10], "big")
        pos = 10
    return op, n, pos

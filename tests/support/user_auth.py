"""An application-server endpoint for user authentication (pusher-js `signin()`), in a thread.

It plays the customer's backend for the "authenticated users" tests. pusher-js form-POSTs ``socket_id`` to
``/pusher/user-auth``; the answer is made by the official Python SDK,
``pusher.Pusher(...).authenticate_user(socket_id, {"id": ..., "user_info": {...}, "watchlist": [...]})``, so
the signatures under test are the SDK's, not ours. The test chooses who signs in through the URL:

    /pusher/user-auth?user=alice&watch=bob,carol&name=Alice

- ``user`` (required): the user id; ``name`` (default: the id): ``user_info.name``;
- ``watch`` (optional): comma-separated watchlist; without it the user data has no ``watchlist`` key;
- ``expires_in`` (optional): seconds from now, as the user data's ``expires_at`` (the session's end).

``/pusher/auth`` authorizes channels with ``authenticate(channel, socket_id)`` and no ``custom_data``, so a
presence channel gets only ``auth`` over ``socket_id:channel``: the member must come from the sign-in.

Also here: `sign_user_data`, the signin token over any (even malformed) ``user_data`` string, computed
from the reference formula with hmac, for raw-protocol tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pusher

from tests.support.http_service import HttpService


def sign_user_data(key: str, secret: str, socket_id: str, user_data: str) -> str:
    """`key:HMAC-SHA256(secret, "socket_id::user::user_data")` over the exact string given."""
    digest = hmac.new(secret.encode(), f"{socket_id}::user::{user_data}".encode(), hashlib.sha256).hexdigest()
    return f"{key}:{digest}"


@dataclass
class UserAuthCall:
    path: str
    query: dict[str, str]
    form: dict[str, str]
    status: int
    response: Any


@dataclass
class UserAuthEndpoint(HttpService):
    _owner_attr = "endpoint"
    _thread_name = "user-auth-endpoint"
    app_id: str
    key: str
    secret: str
    host: str = "127.0.0.1"
    calls: list[UserAuthCall] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        # The Channels server is never called from here: authenticate_user/authenticate only sign.
        self.sdk = pusher.Pusher(app_id=self.app_id, key=self.key, secret=self.secret, ssl=False)
        self._lock = threading.Lock()

    # -- addresses ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "user auth endpoint not started"
        return f"http://{self.host}:{self._httpd.server_address[1]}"

    def user_auth_url(self, user: str | None = None, *, watch: list[str] | None = None,
                      name: str | None = None) -> str:
        """The sign-in endpoint; without `user` the caller appends `?user=...` itself."""
        query: dict[str, str] = {}
        if user is not None:
            query["user"] = user
        if watch:
            query["watch"] = ",".join(watch)
        if name is not None:
            query["name"] = name
        return f"{self.url}/pusher/user-auth" + (f"?{urlencode(query)}" if query else "")

    @property
    def channel_auth_url(self) -> str:
        return f"{self.url}/pusher/auth"

    # -- answers -----------------------------------------------------------------------------------
    def user_data_for(self, query: dict[str, str]) -> dict[str, Any]:
        user = query["user"]
        data: dict[str, Any] = {"id": user, "user_info": {"name": query.get("name") or user}}
        if query.get("watch"):
            data["watchlist"] = [w for w in query["watch"].split(",") if w]
        if query.get("expires_in"):
            data["expires_at"] = int(time.time()) + int(query["expires_in"])
        return data

    def answer(self, path: str, query: dict[str, str], form: dict[str, str]) -> tuple[int, Any]:
        socket_id = form.get("socket_id", "")
        if not socket_id:
            return 400, {"error": "socket_id is required"}
        try:
            if path == "/pusher/user-auth":
                if not query.get("user"):
                    return 403, {"error": "user authentication needs ?user=<id>"}
                return 200, self.sdk.authenticate_user(socket_id, self.user_data_for(query))
            if path == "/pusher/auth":
                channel = form.get("channel_name", "")
                if not channel:
                    return 400, {"error": "channel_name is required"}
                return 200, self.sdk.authenticate(channel=channel, socket_id=socket_id)
        except (ValueError, TypeError) as exc:
            return 400, {"error": str(exc)}
        return 404, {"error": f"no route {path}"}

    def record(self, call: UserAuthCall) -> None:
        with self._lock:
            self.calls.append(call)


class _Handler(BaseHTTPRequestHandler):
    endpoint: UserAuthEndpoint
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        if "json" in (self.headers.get("Content-Type") or ""):
            try:
                form = {k: str(v) for k, v in json.loads(raw or "{}").items()}
            except (ValueError, AttributeError):
                form = {}
        else:
            form = {k: v[-1] for k, v in parse_qs(raw).items()}
        status, body = self.endpoint.answer(url.path, query, form)
        self.endpoint.record(UserAuthCall(url.path, query, form, status, body))
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


UserAuthEndpoint._handler = _Handler

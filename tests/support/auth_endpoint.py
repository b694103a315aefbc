"""A small application-server auth endpoint for the SDK compatibility tests.

It plays the part of the customer's backend: pusher-js (and pysher with ``auth_endpoint=``) POST
``socket_id`` and ``channel_name`` as a form to ``/pusher/auth``; the answer is computed with the official
``pusher`` Python SDK, so the signatures under test are the SDK's, not ours.

- The user is chosen by the test with ``?user=<id>`` (or the ``X-Test-User`` header); presence channels get
  ``channel_data`` ``{"user_id": <id>, "user_info": {"name": <id>}}`` (``?name=`` overrides the name).
- Channels whose name contains ``forbidden`` are refused with 403, as a real backend would.
- ``/pusher/user-auth`` answers pusher-js's ``signin()`` with ``authenticate_user`` (user data
  ``{"id": <id>, "user_info": {"name": <id>}}``), and refuses users whose id contains ``forbidden``.

Every request is recorded in ``AuthEndpoint.calls`` so tests can check the flow really went through here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pusher

from tests.support.http_service import HttpService


@dataclass
class AuthCall:
    path: str
    form: dict[str, str]
    user: str | None
    status: int
    response: Any


@dataclass
class AuthEndpoint(HttpService):
    _owner_attr = "owner"
    _thread_name = "auth-endpoint"
    app_id: str
    key: str
    secret: str
    pusher_host: str
    pusher_port: int
    host: str = "127.0.0.1"
    calls: list[AuthCall] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.client = pusher.Pusher(
            app_id=self.app_id, key=self.key, secret=self.secret,
            host=self.pusher_host, port=self.pusher_port, ssl=False,
        )

    # -- addresses -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def channel_auth_url(self) -> str:
        return f"{self.url}/pusher/auth"

    @property
    def user_auth_url(self) -> str:
        return f"{self.url}/pusher/user-auth"

    # -- answers ---------------------------------------------------------------------------------------
    def channel_auth(self, form: dict[str, str], user: str | None, name: str | None) -> tuple[int, Any]:
        channel = form.get("channel_name", "")
        socket_id = form.get("socket_id", "")
        if not channel or not socket_id:
            return 400, {"error": "socket_id and channel_name are required"}
        if "forbidden" in channel:
            return 403, {"error": f"access to {channel} is forbidden"}
        custom_data = None
        if channel.startswith("presence-"):
            if not user:
                return 403, {"error": "presence channels need ?user=<id>"}
            custom_data = {"user_id": user, "user_info": {"name": name or user}}
        try:
            return 200, self.client.authenticate(channel=channel, socket_id=socket_id, custom_data=custom_data)
        except (ValueError, TypeError) as exc:
            return 400, {"error": str(exc)}

    def user_auth(self, form: dict[str, str], user: str | None, name: str | None) -> tuple[int, Any]:
        socket_id = form.get("socket_id", "")
        if not user:
            return 403, {"error": "user authentication needs ?user=<id>"}
        if "forbidden" in user:
            return 403, {"error": f"user {user} may not sign in"}
        user_data = {"id": user, "user_info": {"name": name or user}}
        try:
            return 200, self.client.authenticate_user(socket_id=socket_id, user_data=user_data)
        except (ValueError, TypeError) as exc:
            return 400, {"error": str(exc)}


class _Handler(BaseHTTPRequestHandler):
    owner: AuthEndpoint
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        # pusher-js in a browser page on another origin needs CORS; harmless elsewhere.
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(raw)

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Content-Length", "0")
        self.end_headers()

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
        user = query.get("user") or self.headers.get("X-Test-User")
        name = query.get("name")
        if url.path == "/pusher/auth":
            status, body = self.owner.channel_auth(form, user, name)
        elif url.path == "/pusher/user-auth":
            status, body = self.owner.user_auth(form, user, name)
        else:
            status, body = 404, {"error": f"no route {url.path}"}
        self.owner.calls.append(AuthCall(url.path, form, user, status, body))
        self._send(status, body)


AuthEndpoint._handler = _Handler

"""The customer's Beams auth endpoint for the compatibility tests, in a thread.

It plays the app backend of the Beams web guide ("Creating a Beams auth endpoint"): the web SDK's
`TokenProvider` does `GET <url>?user_id=<id>` (plus its own query params and headers) and expects
`200 {"token": "<jwt>"}`. The token comes from the official Python server SDK's `generate_token`
(pusher_push_notifications), so the JWT under test is the SDK's, not ours.

- Users whose id contains `forbidden` are refused with 401, as a real backend refusing a session would.
- Replies carry CORS headers (the browser page runs on another origin) and preflights are answered.
- Every request is recorded in `TokenEndpoint.calls` (path, query, headers, status, body).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pusher_push_notifications import PushNotifications

from tests.support.http_service import HttpService

PATH = "/pusher/beams-auth"


@dataclass
class TokenCall:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int
    response: Any


@dataclass
class TokenEndpoint(HttpService):
    _owner_attr = "owner"
    _thread_name = "beams-token-endpoint"
    instance_id: str
    secret_key: str
    host: str = "127.0.0.1"
    calls: list[TokenCall] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        # generate_token is local (no HTTP), so the SDK's endpoint does not matter here.
        self.sdk = PushNotifications(self.instance_id, self.secret_key)

    @property
    def url(self) -> str:
        """What to give `new PusherPushNotifications.TokenProvider({url})`."""
        return f"http://{self.host}:{self.port}{PATH}"

    def answer(self, query: dict[str, str]) -> tuple[int, Any]:
        user_id = query.get("user_id", "")
        if not user_id:
            return 400, {"error": "user_id query parameter is required"}
        if "forbidden" in user_id:
            return 401, {"error": f"user {user_id} is not signed in"}
        try:
            return 200, self.sdk.generate_token(user_id)
        except (TypeError, ValueError) as exc:
            return 400, {"error": str(exc)}


class _Handler(BaseHTTPRequestHandler):
    owner: TokenEndpoint
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _cors(self) -> None:
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
        self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Vary", "Origin")

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self._cors()
        self.send_header("Access-Control-Allow-Methods", "GET, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", self.headers.get("Access-Control-Request-Headers") or "*")
        self.send_header("Access-Control-Max-Age", "60")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == PATH:
            status, body = self.owner.answer(query)
        else:
            status, body = 404, {"error": f"no route {url.path}"}
        self.owner.calls.append(TokenCall(url.path, query, dict(self.headers.items()), status, body))
        raw = json.dumps(body).encode()
        self.send_response(status)
        self._cors()
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


TokenEndpoint._handler = _Handler

"""Fixtures for the Beams compatibility tests: a Tidings server with one Beams instance, plain or TLS.

The server is configured the way a user would: TIDINGS_DEFAULT_INSTANCE_ID and TIDINGS_DEFAULT_INSTANCE_SECRET
(which create/update that instance at start), and for HTTPS TIDINGS_TLS_CERT and TIDINGS_TLS_KEY (`--tls-cert`,
`--tls-key`; tests/support/tls.py makes a trustme CA and certificate). It runs in the test process
(tests/support/inprocess.py): the SDKs are clients on its port, in threads, Node or the browser.

`BeamsHttp` is a thin `requests` client for the documented Beams HTTP APIs (device, publish, customer),
used to set up state and to check what the SDKs did. Every request has a timeout.
"""

from __future__ import annotations

import json
import secrets
import ssl
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.compat.nodejs import NODE_DIR, ensure_node_modules
from tests.support.inprocess import start_inprocess
from tests.support.push_endpoint import PushService, Subscription
from tests.support.server import RunningServer
from tests.support.tls import TlsFiles, make_tls_files

HTTP_TIMEOUT = 10
WEB_SDK_VERSION = "2.1.0"
NODE_BEAMS_PACKAGES = (("@pusher/push-notifications-server", "1.2.7"), ("@pusher/push-notifications-web", "2.1.0"))


@dataclass(frozen=True)
class BeamsInstance:
    id: str
    secret: str

    @classmethod
    def new(cls) -> BeamsInstance:
        # Pusher instance ids are UUIDs; secret keys are 64 upper-case hex characters.
        return cls(str(uuid.uuid4()), secrets.token_hex(32).upper())

    @property
    def env(self) -> dict[str, str]:
        return {"TIDINGS_DEFAULT_INSTANCE_ID": self.id, "TIDINGS_DEFAULT_INSTANCE_SECRET": self.secret}

    @property
    def issuer(self) -> str:
        return f"https://{self.id}.pushnotifications.pusher.com"


def start_beams_server(data_dir: Path, instance: BeamsInstance, tls: TlsFiles | None = None) -> RunningServer:
    """The server with the Beams instance from env; with `tls`, HTTPS on the port (readiness checked over TLS)."""
    if tls is None:
        return start_inprocess(data_dir, env=instance.env)
    server = start_inprocess(
        data_dir, env={**instance.env, "TIDINGS_TLS_CERT": str(tls.cert), "TIDINGS_TLS_KEY": str(tls.key)}
    )
    wait_ready_tls(server, tls)
    return server


def wait_ready_tls(server: RunningServer, tls: TlsFiles, timeout: float = 20) -> None:
    context = tls.client_context()
    url = f"https://{server.host}:{server.port}/ready"
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if not server.running():
            raise RuntimeError(f"tidings (started with --tls-cert/--tls-key) stopped:\n{server.log()}")
        try:
            with urllib.request.urlopen(url, timeout=1, context=context) as r:
                if r.status == 200:
                    return
        except (OSError, ssl.SSLError) as exc:
            last = exc
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"tidings did not answer {url} over TLS in {timeout}s (last error: {last!r}):\n{server.log()}")


class BeamsHttp:
    """The documented Beams HTTP APIs, called with `requests` (what the SDKs call, without the SDKs)."""

    def __init__(self, base_url: str, instance: BeamsInstance, verify: str | bool = True) -> None:
        self.base_url = base_url
        self.instance = instance
        self.session = requests.Session()
        self.session.verify = verify

    # -- raw ----------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        # Per request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session-level `verify`.
        kwargs.setdefault("verify", self.session.verify)
        return self.session.request(method, f"{self.base_url}{path}", **kwargs)

    def device_path(self, rest: str = "", instance_id: str | None = None) -> str:
        return f"/device_api/v1/instances/{instance_id or self.instance.id}{rest}"

    # -- device API ------------------------------------------------------------------------------------------
    def vapid_public_key(self) -> str:
        r = self.request("GET", self.device_path("/web-vapid-public-key"))
        assert r.status_code == 200, describe(r)
        return str(r.json()["vapidPublicKey"])

    def register_web(self, subscription: Subscription) -> str:
        """POST /devices/web exactly as the web SDK 2.1.0 does; returns the new device id."""
        r = self.request(
            "POST", self.device_path("/devices/web"),
            json={"token": subscription.token, "metadata": {"sdkVersion": WEB_SDK_VERSION}},
        )
        assert r.status_code == 200, describe(r)
        device_id = r.json().get("id")
        assert isinstance(device_id, str) and device_id.startswith("web-"), describe(r)
        return device_id

    def register_fcm(self, token: str) -> str:
        """POST /devices/fcm as the Android SDK does; returns the new device id."""
        r = self.request(
            "POST", self.device_path("/devices/fcm"),
            json={"token": token, "knownPreviousClientIds": [], "metadata": {"sdkVersion": "1.9.2",
                                                                            "androidVersion": "34"}},
        )
        assert r.status_code == 200, describe(r)
        return str(r.json()["id"])

    def get_device(self, device_id: str, platform: str = "web") -> requests.Response:
        return self.request("GET", self.device_path(f"/devices/{platform}/{quote(device_id, safe='')}"))

    def device(self, device_id: str, platform: str = "web") -> dict[str, Any]:
        r = self.get_device(device_id, platform)
        assert r.status_code == 200, describe(r)
        body = r.json()
        assert isinstance(body, dict), describe(r)
        return body

    def put_user(self, device_id: str, token: str | None, platform: str = "web") -> requests.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return self.request("PUT", self.device_path(f"/devices/{platform}/{quote(device_id, safe='')}/user"),
                            headers=headers)

    def set_user(self, device_id: str, token: str, platform: str = "web") -> None:
        r = self.put_user(device_id, token, platform)
        assert r.status_code == 200, describe(r)

    def set_interests(self, device_id: str, interests: list[str], platform: str = "web") -> None:
        r = self.request("PUT", self.device_path(f"/devices/{platform}/{quote(device_id, safe='')}/interests"),
                         json={"interests": interests})
        assert r.status_code == 200, describe(r)

    def get_interests(self, device_id: str, platform: str = "web") -> requests.Response:
        return self.request("GET", self.device_path(f"/devices/{platform}/{quote(device_id, safe='')}/interests"))

    def interests(self, device_id: str, platform: str = "web") -> list[str]:
        r = self.get_interests(device_id, platform)
        assert r.status_code == 200, describe(r)
        return sorted(r.json()["interests"])

    def delete_device(self, device_id: str, platform: str = "web") -> requests.Response:
        return self.request("DELETE", self.device_path(f"/devices/{platform}/{quote(device_id, safe='')}"))

    # -- publish / customer API ------------------------------------------------------------------------------
    def publish(self, kind: str, body: Any, secret: str | None = None) -> requests.Response:
        return self.request(
            "POST", f"/publish_api/v1/instances/{self.instance.id}/publishes/{kind}",
            json=body, headers={"Authorization": f"Bearer {secret or self.instance.secret}"},
        )


def describe(r: requests.Response) -> str:
    """A failed expectation's context: the request and the full reply."""
    req = r.request
    body = req.body
    if isinstance(body, bytes):
        body = body[:300].decode(errors="replace") + ("..." if len(body) > 300 else "")
    elif isinstance(body, str) and len(body) > 300:
        body = body[:300] + "..."
    return (
        f"\n  request: {req.method} {req.url}\n  request headers: {dict(req.headers)}\n  request body: {body!r}"
        f"\n  reply: {r.status_code} {r.headers.get('Content-Type')!r} {r.text[:500]!r}"
    )


# -- fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def beams_instance() -> BeamsInstance:
    return BeamsInstance.new()


@pytest.fixture(scope="module")
def beams_server(tmp_path_factory: pytest.TempPathFactory, beams_instance: BeamsInstance) -> Iterator[RunningServer]:
    """Tidings over plain HTTP with one Beams instance (from env), one per test module."""
    srv = start_beams_server(tmp_path_factory.mktemp("tidings-beams"), beams_instance)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def beams_tls_server(
    tmp_path_factory: pytest.TempPathFactory, beams_instance: BeamsInstance, tls_files: TlsFiles
) -> Iterator[RunningServer]:
    """Tidings serving HTTPS (and WSS) on its port, with one Beams instance."""
    srv = start_beams_server(tmp_path_factory.mktemp("tidings-beams-tls"), beams_instance, tls_files)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def api(beams_server: RunningServer, beams_instance: BeamsInstance) -> BeamsHttp:
    return BeamsHttp(beams_server.http_url, beams_instance)


@pytest.fixture(scope="module")
def push_service() -> Iterator[PushService]:
    with PushService() as service:
        yield service


@pytest.fixture(scope="session")
def beams_node_modules() -> None:
    """npm ci in tests/compat/node (shared with the Channels scripts), then check the pinned Beams packages."""
    ensure_node_modules()
    for name, version in NODE_BEAMS_PACKAGES:
        manifest = NODE_DIR / "node_modules" / name / "package.json"
        assert manifest.is_file(), f"{name} is not installed in {NODE_DIR}; add it to package.json and run npm install"
        installed = json.loads(manifest.read_text())["version"]
        assert installed == version, f"{name} {installed} installed, expected {version}"

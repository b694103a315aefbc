"""A customer web site for the Beams web SDK (@pusher/push-notifications-web 2.1.0), in a thread.

Served on http://localhost:<port> (localhost is a secure context, as the SDK requires):

- `/`                         a blank page that loads the SDK's browser build (dist/push-notifications-cdn.js,
                              the IIFE that defines `window.PusherPushNotifications`);
- `/push-notifications-cdn.js` that file, straight from node_modules;
- `/service-worker.js`        the package's own service worker (src/service-worker.js). It is an ES module
                              that imports do-request.js and device-state-store.js, and the SDK registers it as
                              a classic script, so the three files are joined here with their import/export lines
                              removed (what the package's rollup config would produce). The SDK fetches it with
                              `?pusherBeamsWebSDKVersion=2.1.0` and needs a 200. As the docs say for self-hosters,
                              `self.PusherPushNotifications.endpointOverride` points delivery/open reports at Tidings.

`push_stub_script(subscriptions)` is the init script that replaces `PushManager.prototype.subscribe` /
`getSubscription` (headless Chromium here has no reachable push service): subscribe() hands out the given
subscriptions in order (their endpoints are on the local push emulator, tests/support/push_endpoint.py) and
records the `applicationServerKey` it was called with.
"""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from typing import Any, Self
from urllib.parse import urlsplit

from tests.compat.nodejs import NODE_DIR
from tests.support.http_service import HttpService

WEB_PACKAGE = NODE_DIR / "node_modules" / "@pusher" / "push-notifications-web"
CDN_BUILD = WEB_PACKAGE / "dist" / "push-notifications-cdn.js"
SW_SOURCES = ("device-state-store.js", "do-request.js", "service-worker.js")

PAGE = """<!DOCTYPE html>
<html>
  <head><meta charset="utf-8"><title>Beams web SDK harness</title></head>
  <body>
    <h1>Beams web SDK harness</h1>
    <script src="/push-notifications-cdn.js"></script>
  </body>
</html>
"""


def build_service_worker(endpoint_override: str) -> str:
    """The package's src/service-worker.js and its two imports as one classic script, with the endpoint override."""
    parts = ["// Built by tests/compat/beams/web_harness.py from @pusher/push-notifications-web 2.1.0 src/.\n"]
    for name in SW_SOURCES:
        text = (WEB_PACKAGE / "src" / name).read_text()
        text = re.sub(r"^import\s.*?;[ \t]*$", "", text, flags=re.M)
        text = re.sub(r"^export default (class|function) ", r"\1 ", text, flags=re.M)
        leftovers = re.findall(r"^(?:import|export)\b.*$", text, flags=re.M)
        assert not leftovers, f"{name}: unexpected module syntax left after stripping: {leftovers}"
        parts.append(f"\n// ---- src/{name}\n{text}")
    parts.append(f"\nself.PusherPushNotifications.endpointOverride = {json.dumps(endpoint_override)};\n")
    return "".join(parts)


def push_stub_script(subscriptions: list[dict[str, Any]]) -> str:
    """Init script: a fake PushManager handing out `subscriptions` (PushSubscription.toJSON() shapes) in order."""
    return _PUSH_STUB.replace("__SUBSCRIPTIONS__", json.dumps(subscriptions))


_PUSH_STUB = """
(() => {
  const queue = __SUBSCRIPTIONS__;
  let current = null;
  const log = { subscribeCalls: [], unsubscribeCalls: 0, getSubscriptionCalls: 0 };
  window.__beamsPush = log;

  const b64url = (bytes) => btoa(String.fromCharCode(...bytes))
    .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  const keyBytes = (key) => {
    if (key == null) return null;
    if (typeof key === 'string') return key;
    if (key instanceof ArrayBuffer) return b64url(new Uint8Array(key));
    return b64url(new Uint8Array(key.buffer, key.byteOffset, key.byteLength));
  };
  const fromB64url = (s) => {
    const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
    return Uint8Array.from(b, (c) => c.charCodeAt(0)).buffer;
  };

  function makeSubscription(json, options) {
    const sub = {
      endpoint: json.endpoint,
      expirationTime: json.expirationTime,
      options,
      getKey: (name) => (json.keys[name] ? fromB64url(json.keys[name]) : null),
      toJSON: () => JSON.parse(JSON.stringify(json)),
      unsubscribe: async () => {
        log.unsubscribeCalls += 1;
        if (current === sub) current = null;
        return true;
      },
    };
    return sub;
  }

  PushManager.prototype.subscribe = async function (options = {}) {
    log.subscribeCalls.push({
      userVisibleOnly: options.userVisibleOnly,
      applicationServerKey: keyBytes(options.applicationServerKey),
    });
    if (queue.length === 0) {
      throw new DOMException('the test ran out of push subscriptions', 'AbortError');
    }
    current = makeSubscription(queue.shift(), options);
    return current;
  };
  PushManager.prototype.getSubscription = async function () {
    log.getSubscriptionCalls += 1;
    return current;
  };
  PushManager.prototype.permissionState = async function () {
    return 'granted';
  };

  // page.evaluate has no timeout of its own: every SDK call goes through this.
  window.__withTimeout = (promise, ms, what) => Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)),
  ]);
})();
"""


class WebHarness(HttpService):
    """The customer's site: page, SDK build and service worker. `url` uses the host name localhost."""

    _thread_name = "beams-web-harness"
    host = "127.0.0.1"

    def __init__(self, tidings_url: str) -> None:
        self.tidings_url = tidings_url
        self.service_worker = build_service_worker(tidings_url)
        self.requests: list[str] = []

    def start(self) -> Self:
        assert CDN_BUILD.is_file(), f"{CDN_BUILD} is missing: is @pusher/push-notifications-web 2.1.0 installed?"
        return super().start()

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}/"


class _Handler(BaseHTTPRequestHandler):
    owner: WebHarness
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.owner.requests.append(self.path)
        path = urlsplit(self.path).path
        if path == "/":
            self._send(200, "text/html; charset=utf-8", PAGE.encode())
        elif path == "/push-notifications-cdn.js":
            self._send(200, "text/javascript; charset=utf-8", CDN_BUILD.read_bytes())
        elif path == "/service-worker.js":
            self._send(200, "text/javascript; charset=utf-8", self.owner.service_worker.encode())
        else:
            self._send(404, "text/plain", b"not found")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


WebHarness._handler = _Handler

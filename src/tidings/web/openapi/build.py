"""Builds the OpenAPI 3.1 description from the code's own rules and limits, and writes openapi.json.

    python -m tidings.web.openapi.build          # rewrite src/tidings/web/openapi/openapi.json
    python -m tidings.web.openapi.build --check  # exit 1 if the file is not what the code builds

The server serves the committed file; tests/openapi/ check that it is what this module builds and that it
names exactly the routes the application registers (docs/openapi.md).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from tidings import __version__
from tidings.web.openapi import beams, channels, console, ops, users
from tidings.web.openapi.common import error_responses, error_schemas

DOCUMENT = Path(__file__).with_name("openapi.json")

DESCRIPTION = """\
Every HTTP API one Tidings server serves on its one port:

- the **Channels HTTP API** (`/apps/{app_id}/...`), signed as the Pusher server SDKs sign (scheme
  `channelsSignature`); errors are `{"error": message}`;
- the **Beams** publish, customer, device and reporting APIs, and the push outbox, with the instance's secret
  key as a bearer token (publish, customer, outbox) or a Beams Token (`PUT .../user`); errors are
  `{"error": title, "description": message}` as the Beams SDKs read them. The device API is served under
  `/device_api/v1/instances/...` and, for the Android SDK's host override, under `/instances/...`; the device
  and reporting APIs allow any origin (CORS);
- Tidings' own endpoints: health, readiness, Prometheus metrics, this document, the live console (when a
  console token is set) and the development demo (only with `TIDINGS_DEMO=true`).

The WebSocket endpoint `/app/{key}` is listed for completeness; the Pusher protocol itself is in
docs/protocol/channels.md. Any route answers 405 to a method it does not serve, and 503 when the database or
Redis does not answer, in its product's error format.
"""


def build() -> dict[str, Any]:
    paths = {**channels.paths(), **users.paths(), **beams.paths(), **console.paths(), **ops.paths()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tidings",
            "version": __version__,
            "summary": "A self-hosted server speaking the Pusher Channels and Beams wire protocols",
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "http://127.0.0.1:6001", "description": "`tidings serve` with its defaults"}],
        "tags": [
            {"name": channels.TAG, "description": "Trigger events and query channels (signed requests)."},
            {"name": "Channels WebSocket", "description": "Where the Pusher client SDKs connect."},
            {"name": "Beams publish API", "description": "Send push notifications (secret key)."},
            {"name": "Beams customer API", "description": "Manage Authenticated Users (secret key)."},
            {"name": "Beams device API", "description": "Called by the Beams client SDKs."},
            {"name": "Beams outbox API", "description": "Notifications an instance in outbox mode kept (secret key)."},
            {"name": "Beams reporting API", "description": "Delivery and open receipts from the client SDKs."},
            {"name": console.TAG, "description": "The live console (when a console token is set)."},
            {"name": ops.TAG, "description": "Health, readiness, metrics, this document."},
            {"name": ops.DEMO_TAG, "description": "Served only with TIDINGS_DEMO=true. Never in production."},
        ],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"channelsSignature": channels.signature_scheme(), **beams.security_schemes(),
                                **console.security_schemes()},
            "schemas": {**error_schemas(), **channels.schemas(), **users.schemas(), **beams.schemas()},
            "responses": error_responses(),
        },
    }


def render() -> bytes:
    return orjson.dumps(build(), option=orjson.OPT_INDENT_2) + b"\n"


def main(argv: list[str]) -> int:
    rendered = render()
    if "--check" in argv:
        if DOCUMENT.read_bytes() != rendered:
            print(f"{DOCUMENT} is out of date: run python -m tidings.web.openapi.build", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_bytes(rendered)
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

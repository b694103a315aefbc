"""What every Beams endpoint shares: instance lookup, secret-key auth, JSON replies, rate limiting."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tidings.beams import validation
from tidings.beams.models import Instance
from tidings.errors import BeamsError, BeamsErrorKind
from tidings.web.context import context

# Beams clients accept any 2xx body on device calls, but some parse it as JSON: keep it empty or JSON.
EMPTY = b""


def ok(body: Any = None) -> web.Response:
    if body is None:
        return web.Response(status=200, body=EMPTY)
    return web.json_response(body)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole request body, or the first `limit + 1` bytes of a larger one (so the caller can refuse it).

    `StreamReader.read(n)` returns what has arrived so far, so a body sent in several TCP segments needs a
    loop; stopping one byte past the limit never buffers an oversize body.
    """
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def instance_not_found() -> BeamsError:
    return BeamsError(BeamsErrorKind.INSTANCE_NOT_FOUND, "Could not find the instance")


async def instance(request: web.Request) -> Instance:
    """The instance named in the path. Every Beams handler starts here, so this is where the path is checked
    first: ids are taken from it, and one that no database can hold (NUL, not UTF-8) must be a 400, not a 500."""
    validation.check_path(request.rel_url.raw_path)
    ctx = context(request)
    found = await ctx.instances.get(request.match_info["instance_id"])
    if found is None:
        raise instance_not_found()
    return found


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization")
    if header is None:
        raise BeamsError(BeamsErrorKind.MISSING_AUTHORIZATION, "Authorization header is missing.")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise BeamsError(BeamsErrorKind.UNAUTHORIZED, "Authorization must be 'Bearer <token>'")
    return value.strip()


async def authenticated_instance(request: web.Request) -> Instance:
    """Publish and customer APIs: the instance's secret key as a bearer token, compared in constant time."""
    inst = await instance(request)
    # surrogatepass: a header value can hold lone surrogates, which must fail the check, not crash it.
    given = bearer(request).encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(given, inst.secret_key.encode("utf-8", "surrogatepass")):
        raise BeamsError(BeamsErrorKind.UNAUTHORIZED, "Incorrect Secret Key")
    return inst


class RateLimiter:
    """At most `rate` requests per second per key, in fixed one-second windows (what Beams documents)."""

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._windows: dict[str, tuple[int, int]] = {}

    def check(self, key: str) -> None:
        second = int(self._clock())
        window, count = self._windows.get(key, (second, 0))
        if window != second:
            window, count = second, 0
            if len(self._windows) > 10_000:
                self._windows.clear()
        count += 1
        self._windows[key] = (window, count)
        if count > self.rate:
            raise BeamsError(BeamsErrorKind.RATE_LIMITED, f"At most {self.rate} requests per second per instance")

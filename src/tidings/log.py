"""Logging: stdlib loggers rendered by structlog, readable on a console or as JSON lines.

Ids travel as fields, not inside messages: the boundaries that know them (the HTTP middleware, a WebSocket
connection's callbacks, the hub's actions, a delivery worker's publish) wrap their work in `bound(...)`, and
every line logged inside, by any module with a plain `logging.getLogger`, carries them (`app_id`,
`socket_id`, `user_id`, `instance_id`, `publish_id`). Tasks created inside inherit them (asyncio copies the
context). Never bind or log a secret, a push token or a payload.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import structlog
from structlog.contextvars import bind_contextvars, reset_contextvars

MAX_FIELD = 200  # characters of a bound id: ids come from URLs and clients, a log line is not storage
# The fields a call may add with `extra=`: ids only. A library's own extras (aiohttp's access log passes request
# headers) stay out of the line.
FIELDS = ("app_id", "socket_id", "user_id", "instance_id", "publish_id", "device_id", "worker_id")


def formatter(fmt: str = "console") -> logging.Formatter:
    """The formatter `configure` installs: "console" (key=value after the message) or "json" (one object)."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        processor=renderer,
        foreign_pre_chain=[
            # Formatting runs inside the logging call, so the caller's context is the one merged.
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.ExtraAdder(allow=FIELDS),  # log.info(..., extra={"publish_id": ...}): a one-off field
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso"),
        ],
    )


def configure(level: str = "info", fmt: str = "console") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log is per request: useful when debugging, noise otherwise.
    logging.getLogger("aiohttp.access").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    # httpx logs every gateway request at INFO: one line per push notification is noise, not information.
    # alembic narrates every migration step at INFO on each start.
    for noisy in ("httpx", "httpcore", "hpack", "h2", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def safe_url(url: str) -> str:
    """`url` as it may be logged: userinfo (`user:password@`) and the query string, where webhook and endpoint
    URLs carry credentials, are replaced by `***`; the fragment is dropped. Scheme, host, port and path stay,
    enough to tell which target it was."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a bad port or an unbalanced "[": nothing in it can be trusted to be harmless
        return "(unparseable URL)"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    if "@" in parts.netloc:
        netloc = f"***@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


@contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    """Every line logged inside the block (and in tasks created inside it) carries `ids` as fields; None
    values are left out. On exit each field is put back as it was, by token: a block run from a protocol
    callback, which runs in a context of the event loop's rather than a task's, leaves nothing behind."""
    tokens = bind_contextvars(**{name: _field(value) for name, value in ids.items() if value is not None})
    try:
        yield
    finally:
        reset_contextvars(**tokens)


def _field(value: str) -> str:
    # An id from a URL path or a client may hold a newline or an escape sequence: in the console format that
    # would forge a line or a colour. Printable ids (all real ones) pass unchanged.
    value = value[:MAX_FIELD]
    return value if value.isprintable() else value.encode("unicode_escape").decode("ascii")

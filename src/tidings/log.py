"""Logging: stdlib loggers rendered by structlog, readable on a console or as JSON lines.

Ids travel as fields, not inside messages: the boundaries that know them (the HTTP middleware, a WebSocket
connection's callbacks, a delivery worker's publish, the Beams webhook listener's event) wrap their work in
`bound(...)`, and every line logged inside, by any module with a plain `logging.getLogger`, carries them
(`app_id`, `socket_id`, `user_id`, `instance_id`, `publish_id`). Tasks created inside inherit them (asyncio
copies the context): the hub's actions for a connection run in tasks its callbacks start. Never bind or log a
secret, a push token or a payload.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from types import MappingProxyType
from urllib.parse import urlsplit, urlunsplit

import structlog
from structlog.typing import EventDict

MAX_FIELD = 200  # characters of a bound id: ids come from URLs and clients, a log line is not storage
# The fields a call may add with `extra=`: ids only. A library's own extras (aiohttp's access log passes request
# headers) stay out of the line.
FIELDS = ("app_id", "socket_id", "user_id", "instance_id", "publish_id", "device_id", "worker_id")
_IDS: ContextVar[Mapping[str, str]] = ContextVar("tidings_log_ids", default=MappingProxyType({}))


def formatter(fmt: str = "console") -> logging.Formatter:
    """The formatter `configure` installs: "console" (key=value after the message) or "json" (one object)."""
    # JSON: the traceback as one string field ("exception"); the console renderer formats it itself.
    render: list[structlog.types.Processor] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()] if fmt == "json"
        else [structlog.dev.ConsoleRenderer(colors=False)]
    )
    return structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render],
        foreign_pre_chain=[
            # Formatting runs inside the logging call, so the caller's context is the one merged.
            merge_ids,
            structlog.contextvars.merge_contextvars,  # structlog's bind_contextvars works too
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
    # websockets and aiosqlite debug lines quote frames, headers and SQL parameters: payloads, tokens, secrets.
    for noisy in ("httpx", "httpcore", "hpack", "h2", "alembic", "websockets", "aiosqlite"):
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


class bound(AbstractContextManager[None]):
    """Every line logged inside the block (and in tasks created inside it) carries `ids` as fields; None
    values are left out, fields bound outside the block stay unless overridden. On exit the fields are put
    back as they were, by token: a block run from a protocol callback, which runs in a context the event loop
    keeps rather than a task's, leaves nothing behind for the next callback.

    One context variable holding a small dict, rather than structlog's one variable per key: a WebSocket
    connection binds on every chunk it receives, and this costs a third of `bound_contextvars`."""

    __slots__ = ("_ids", "_token")

    def __init__(self, **ids: str | None) -> None:
        self._ids = ids

    def __enter__(self) -> None:
        merged = dict(_IDS.get())
        for name, value in self._ids.items():
            if value is not None:
                merged[name] = _field(value)
        self._token = _IDS.set(merged)

    def __exit__(self, *exc_info: object) -> None:
        _IDS.reset(self._token)


def bound_ids() -> Mapping[str, str]:
    """The ids bound here and now."""
    return _IDS.get()


def merge_ids(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
    """Processor: the ids bound by `bound` as fields of the line (a field the call gave itself wins)."""
    for name, value in _IDS.get().items():
        event_dict.setdefault(name, value)
    return event_dict


def _field(value: str) -> str:
    # An id from a URL path or a client may hold a newline or an escape sequence: in the console format that
    # would forge a line or a colour. Printable ids (all real ones) pass unchanged.
    if len(value) <= MAX_FIELD and value.isprintable():
        return value
    value = value[:MAX_FIELD]
    return value if value.isprintable() else value.encode("unicode_escape").decode("ascii")

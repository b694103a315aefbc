"""Turning the console on: which token, where timelines live, and the cluster relay (`tidings serve`).

    runtime = await start_console(settings, stream, node_id)   # None: the console is off
    console_web.register(application, runtime.console, runtime.auth)
    ...
    await runtime.close()

The token: `console_token` (`TIDINGS_CONSOLE_TOKEN`) when set (an empty value turns the console off); otherwise,
on the embedded default only (no database_url, no redis_url), one is generated on first start and kept in
`<data_dir>/console-token` (mode 0600), so the link printed at start keeps working after restarts. A server
with a database or Redis of its own and no token has no console.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from tidings.config import Settings
from tidings.console.auth import ConsoleAuth
from tidings.console.core import Console
from tidings.console.timeline import MemoryTimeline
from tidings.errors import ConfigError
from tidings.events import EventStream

TOKEN_FILE = "console-token"


@dataclass(frozen=True)
class Token:
    value: str
    created: bool  # generated on this start: the banner shows it once
    source: str  # "generated" (the file under data_dir), or where a supplied one came from


def resolve_token(settings: Settings) -> Token | None:
    if settings.console_token is not None:
        value = settings.console_token.get_secret_value()
        if not value:
            return None
        where = "TIDINGS_CONSOLE_TOKEN" if "TIDINGS_CONSOLE_TOKEN" in os.environ else "console_token"
        return Token(value, False, where)
    if settings.database_url or settings.redis_url:
        return None
    return _embedded_token(settings.data_dir / TOKEN_FILE)


def _embedded_token(path: Path) -> Token:
    with contextlib.suppress(FileNotFoundError):
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return Token(value, False, str(path))
    value = secrets.token_urlsafe(24)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(value + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot store the console token in {path}: {exc}") from exc
    return Token(value, True, str(path))


@dataclass
class ConsoleRuntime:
    console: Console
    auth: ConsoleAuth
    token: Token

    async def close(self) -> None:
        self.console.close_all()
        await self.console.timeline.close()


async def start_console(settings: Settings, stream: EventStream, node_id: str) -> ConsoleRuntime | None:
    token = resolve_token(settings)
    if token is None:
        return None
    if settings.redis_url:
        from tidings.console.cluster import RedisConsole

        relay = RedisConsole(
            settings.redis_url, prefix=settings.redis_prefix, node=node_id, timeout=settings.redis_timeout,
            per_user=settings.console_timeline_events, timeline_ttl=int(settings.console_timeline_ttl),
        )
        console = Console(node_id, relay, relay)
        try:
            await relay.start(console)
        except Exception as exc:
            await relay.close()
            raise ConfigError(f"cannot start the console on Redis: {exc}") from exc
    else:
        console = Console(node_id, MemoryTimeline(settings.console_timeline_events, settings.console_timeline_bytes))
    stream.subscribe(console.on_event)
    return ConsoleRuntime(console, ConsoleAuth(token.value), token)

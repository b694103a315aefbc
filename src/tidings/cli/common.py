"""What the admin commands share: which database they act on, running an action on it, failing in one line,
printing name/value pairs, and showing webhook targets without the credentials they carry.

Every command opens the configured database, migrates it (so it works before the first `serve`), acts and
closes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import click
from pydantic import ValidationError

from tidings.channels.apps import Webhook
from tidings.config import load_settings
from tidings.errors import TidingsError
from tidings.storage import AppStore, Storage, open_storage

T = TypeVar("T")

HIDDEN = "***"
# Query parameters whose value is a credential, by name: api_key, token, sig, X-Amz-Signature, password, ...
_CREDENTIAL = re.compile(r"key|token|secret|pass|pwd|auth|sig|credential|session|code|access", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """Which database a command acts on, as `serve` would pick it."""

    data_dir: Path | None
    database_url: str | None
    config_file: Path | None


class Fail(click.ClickException):
    """One line on stderr, exit code 1, worded like the other `tidings` commands."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"tidings: {self.format_message()}", err=True)


pass_target = click.make_pass_decorator(Target)


def target_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--data-dir / --database-url / --config: which database a command acts on (as `serve` would)."""
    options = [
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="TIDINGS_DATA_DIR",
                     help="Where the embedded SQLite file lives  [env: TIDINGS_DATA_DIR]"),
        click.option("--database-url", envvar="TIDINGS_DATABASE_URL",
                     help="SQLAlchemy URL  [env: TIDINGS_DATABASE_URL]"),
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="TOML settings file, as given to `tidings serve`  [env: TIDINGS_CONFIG]"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def run_storage(target: Target, action: Callable[[Storage], Awaitable[T]]) -> T:
    """Open and migrate the configured database, run `action`, close; errors become one line."""

    async def main() -> T:
        overrides = {"data_dir": target.data_dir, "database_url": target.database_url}
        settings = load_settings(overrides, target.config_file)
        storage = await open_storage(settings.resolved_database_url)
        try:
            await storage.migrate()
            return await action(storage)
        finally:
            await storage.close()

    try:
        return asyncio.run(main())
    except ValidationError as exc:
        raise Fail(describe_invalid(exc)) from exc
    except (TidingsError, ValueError) as exc:
        raise Fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


def run_apps(target: Target, action: Callable[[AppStore], Awaitable[T]]) -> T:
    """`run_storage` for an action on the apps."""
    return run_storage(target, lambda storage: action(storage.apps))


def describe_invalid(exc: ValidationError) -> str:
    """pydantic's errors as one line: where, what."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "invalid value: " + "; ".join(problems)


def echo_pairs(pairs: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in pairs)
    for name, value in pairs:
        click.echo(f"{name.ljust(width)}  {value}")


# -- webhook targets without their credentials ---------------------------------------------------------------


def show_secrets_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--show-secrets", is_flag=True,
        help="Show webhook header values and the credentials in webhook URLs (hidden by default)",
    )(fn)


def shown_url(url: str) -> str:
    """`url` with what would let a reader call the target hidden: the userinfo (`user:password@`), the values
    of credential-looking query parameters, the fragment. The rest stays, enough to tell which target it is."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced "[": nothing in it can be trusted to be harmless
        return HIDDEN
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{HIDDEN}@{netloc.rpartition('@')[2]}"
    query = "&".join(_shown_parameter(item) for item in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, HIDDEN if parts.fragment else ""))


def _shown_parameter(item: str) -> str:
    name, sep, value = item.partition("=")
    return f"{name}={HIDDEN}" if sep and value and _CREDENTIAL.search(unquote_plus(name)) else item


def shown_webhook(hook: Webhook, *, show_secrets: bool) -> dict[str, Any]:
    """A Channels webhook target as JSON: header values and URL credentials hidden unless `show_secrets`."""
    data: dict[str, Any] = hook.model_dump(mode="json")
    if not show_secrets:
        data["url"] = shown_url(hook.url)
        data["headers"] = {name: HIDDEN for name in hook.headers}
    return data

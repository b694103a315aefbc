"""Engine creation for the two supported backends, and the one place driver errors become ours."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from tidings.channels.apps import is_storable_text
from tidings.errors import ConfigError, StorageError, StorageUnavailable

# Users write the URL they know; the async driver is an implementation detail.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def parse_url(url: str) -> URL:
    """Normalise `url` to one of the async drivers; ConfigError for anything else."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL: {exc}") from exc
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigError(
            f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
            "use sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db"
        )
    return parsed.set(drivername=driver)


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None (in-memory or not SQLite)."""
    if url.get_backend_name() != "sqlite" or is_memory_sqlite(url) or url.database is None:
        return None
    if url.database.startswith("file:"):  # URI filenames: let SQLite handle them
        return None
    return Path(url.database)


def create_engine(url: URL) -> AsyncEngine:
    # hide_parameters: SQLAlchemy's exception text (which a logged traceback prints) would otherwise carry the
    # statement's parameters: push tokens, payloads, user ids, secrets.
    if url.get_backend_name() != "sqlite":
        # pre_ping: a PostgreSQL restart must not fail the first query after it.
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if is_memory_sqlite(url):
        # Every new connection to :memory: is a new empty database: share one.
        kwargs["poolclass"] = StaticPool
    engine = create_async_engine(url, **kwargs)
    _configure_sqlite(engine)
    return engine


# Execution option read by the "begin" listener: how a SQLite transaction starts ("IMMEDIATE" or unset).
_SQLITE_BEGIN = "tidings_sqlite_begin"


def for_writes(engine: AsyncEngine) -> AsyncEngine:
    """The engine to open transactions that write on (`for_writes(engine).begin()`); reads use `engine`.

    SQLite: its transactions start with BEGIN IMMEDIATE, taking the write lock at once (waiting up to
    busy_timeout for it). A deferred BEGIN that reads first and writes later must upgrade its read snapshot to
    the write lock, and SQLite refuses that at once ("database is locked", busy_timeout does not apply) when
    another connection committed in between: the admin CLI next to a running server. Reads stay deferred, so
    WAL keeps them from ever waiting for a writer. PostgreSQL: `engine` itself, nothing changes.
    """
    if engine.dialect.name != "sqlite":
        return engine
    # Same pool and listeners; only the option differs (SQLAlchemy's OptionEngine).
    return engine.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})


def _configure_sqlite(engine: AsyncEngine) -> None:
    # The sqlite3 module opens transactions lazily (not before SELECT or DDL), so a read-then-write
    # is not atomic and a failed migration is half applied. Take transaction control ourselves, as
    # the SQLAlchemy docs recommend for aiosqlite; for_writes() picks IMMEDIATE for the transactions that write.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers (the hot app lookups) never wait for a writer. busy_timeout: writers queue.
        cursor.execute("PRAGMA journal_mode=WAL")
        # 15 s: a busy 2-core machine with many concurrent writers (bench/beams registering devices) did
        # exceed 5 s once, and a writer that waits is better than a 500.
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def can_be_stored_key(value: str, max_length: int) -> bool:
    """False for a lookup key no row can have, so the caller answers "not found" without a query.

    Keys come from URL paths: PostgreSQL refuses a NUL in a parameter (a 500, not a 404) and neither driver can
    send a lone surrogate; an absurdly long one costs a round trip for nothing.
    """
    return len(value) <= max_length and is_storable_text(value)


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn driver and connection errors into StorageError, cause chained.

    The message uses the first line of the driver's own text (`exc.orig`), never `str(exc)`: SQLAlchemy
    appends the statement and its parameters there (hidden too, by `hide_parameters`, for the tracebacks that
    show the cause), and PostgreSQL's DETAIL line on later lines can quote the values of a row.
    """
    try:
        yield
    except StorageError:
        raise
    except (OperationalError, InterfaceError) as exc:  # the database is down, restarting or unreachable
        raise StorageUnavailable(f"{action} failed: {_first_line(exc.orig)}") from exc
    except DBAPIError as exc:
        raise StorageError(f"{action} failed: {_first_line(exc.orig)}") from exc
    except SQLAlchemyError as exc:
        raise StorageError(f"{action} failed: {type(exc).__name__}") from exc
    except OSError as exc:  # asyncpg raises plain OSError (refused, unreachable) when connecting
        raise StorageUnavailable(f"{action} failed: database unreachable: {exc}") from exc


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip() if exc is not None else ""
    return text.splitlines()[0] if text else type(exc).__name__

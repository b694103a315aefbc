"""The whole Tidings server inside the test process: `tidings.server.start()` (what `tidings serve` runs, without
the banner and the signal handlers) on a free port, SQLite in the test's data dir unless told otherwise.

Two ways to run it:

- `start_inprocess(data_dir, env=...)` runs it on its own event loop in a thread and returns an
  `InProcessServer`, which looks like tests/support/server.py's `RunningServer` (host, port, data_dir, app_id,
  key, secret, http_url, ws_url(), log(), stop()). Tests may block (`requests`, plain sockets, the official
  Python SDK) or be async (WebSocket clients): the server keeps running either way. The `server` and
  `make_server` fixtures (tests/conftest.py) use it.
- `async with serving(data_dir, ...) as srv:` runs it on the test's own event loop: for async tests that
  never block (aiohttp's client, tests/support/ws_client.py), which can also reach into `srv.ctx`.

`env` takes the same `TIDINGS_*` names as a subprocess server (so a test can use either); the process
environment is never read, nor a config file. Keep subprocess servers (tests/support/server.py) for what needs
a process boundary: signals, crashes, memory of the server process, several nodes, `reuse_port`.

`run_cli(...)` runs `tidings ...` in process too (click's runner in a thread of its own, since the commands
call asyncio.run): the set-up steps of a test, not the CLI's own tests (tests/cli/ keep the real command).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvloop
from click.testing import CliRunner
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from tests.support.server import APP_ID, APP_KEY, APP_SECRET
from tidings.config import Settings
from tidings.log import formatter
from tidings.server import Stack, start

T = TypeVar("T")

START_TIMEOUT = 60.0  # seconds: a loaded machine migrating a fresh database
STOP_TIMEOUT = 30.0


class TestSettings(Settings):
    """Settings from the given values only: no `TIDINGS_*` environment, no config file."""

    __test__ = False  # not a test class for pytest

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def settings_for(
    data_dir: Path, *, env: dict[str, str] | None = None, default_app: bool = True, **values: Any
) -> Settings:
    """What a subprocess server started with this data dir and env would run with, on 127.0.0.1 port 0.
    `values` are settings fields (port=..., app_cache_ttl=...), applied last."""
    fields: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "data_dir": data_dir,
        "log_level": "debug",
        # The emulated push services live on http://127.0.0.1: let the server register and deliver to them.
        "push_allow_private_networks": True,
        "drain_seconds": 0,  # stop at once; the drain tests set a window
    }
    if default_app:
        fields.update(
            default_app_id=APP_ID, default_app_key=APP_KEY, default_app_secret=APP_SECRET,
            default_app_client_events=True,
        )
    for name, value in (env or {}).items():
        if not name.startswith("TIDINGS_"):
            raise ValueError(f"not a Tidings setting: {name}")
        fields[name.removeprefix("TIDINGS_").lower()] = value
    fields.update(values)
    return TestSettings(**fields)


# -- logs -----------------------------------------------------------------------------------------------------


class _ThreadLog(logging.Handler):
    """Writes the records logged on one thread (a server's loop) to a file, formatted as `tidings serve` does."""

    def __init__(self, path: Path, thread: int) -> None:
        super().__init__(logging.DEBUG)
        self.thread = thread
        self.stream = path.open("a", encoding="utf-8")
        self.setFormatter(formatter("console"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        try:
            self.stream.write(self.format(record) + "\n")
            self.stream.flush()
        except Exception:  # a log line must never break the server under test
            self.handleError(record)

    def close(self) -> None:
        self.stream.close()
        super().close()


_levels_lock = threading.Lock()
_debug_users = 0
_saved_level = logging.NOTSET


@contextmanager
def _tidings_debug(level: str) -> Iterator[None]:
    """The `tidings` loggers at debug while any in-process server runs (as `--log-level debug`), then as before."""
    global _debug_users, _saved_level
    if level != "debug":
        yield
        return
    logger = logging.getLogger("tidings")
    with _levels_lock:
        if _debug_users == 0:
            _saved_level = logger.level
            logger.setLevel(logging.DEBUG)
        _debug_users += 1
    try:
        yield
    finally:
        with _levels_lock:
            _debug_users -= 1
            if _debug_users == 0:
                logger.setLevel(_saved_level)


# -- on the test's own loop ----------------------------------------------------------------------------------


@dataclass
class ServerHandle:
    """A server running in this process; the fields a subprocess `RunningServer` has, plus the stack."""

    stack: Stack
    settings: Settings
    data_dir: Path
    host: str = "127.0.0.1"
    app_id: str = APP_ID
    key: str = APP_KEY
    secret: str = APP_SECRET
    env: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.stack.port

    @property
    def ctx(self) -> Any:
        return self.stack.ctx

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def ws_url(self, key: str | None = None, query: str = "protocol=7&client=js&version=8.6.0") -> str:
        return f"ws://{self.host}:{self.port}/app/{key or self.key}?{query}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@asynccontextmanager
async def serving(
    data_dir: Path, *, env: dict[str, str] | None = None, default_app: bool = True, **values: Any
) -> AsyncIterator[ServerHandle]:
    """The server on the running loop for the block (see the module docstring), stopped as SIGTERM would."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings_for(data_dir, env=env, default_app=default_app, **values)
    handler = _ThreadLog(data_dir / "server.log", threading.get_ident())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with _tidings_debug(settings.log_level):
            stack = await start(settings)
            try:
                yield ServerHandle(stack, settings, data_dir, env=dict(env or {}))
            finally:
                await stack.stop()
    finally:
        root.removeHandler(handler)
        handler.close()


# -- on a loop of its own ------------------------------------------------------------------------------------


class InProcessServer(ServerHandle):
    """A server on its own loop in a daemon thread; `stop()` shuts it down as SIGTERM would and returns what
    `tidings serve` would exit with: 0, or 1 if the server failed (the error is in `error` and the log)."""

    def __init__(self, data_dir: Path, settings: Settings, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.host = "127.0.0.1"
        self.app_id, self.key, self.secret = APP_ID, APP_KEY, APP_SECRET
        self.env = env
        self._ready = threading.Event()
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._main, name=f"tidings-server-{data_dir.name}", daemon=True)

    # The thread: start the stack, wait for stop(), stop the stack.

    def _main(self) -> None:
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by _start() or stop(), in the test's thread
            self.error = exc
        finally:
            try:
                _cancel_all(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()
                self._ready.set()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        handler = _ThreadLog(self.log_path, threading.get_ident())
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            with _tidings_debug(self.settings.log_level):
                self.stack = await start(self.settings)
                self._ready.set()
                await self._stopping.wait()
                await self.stack.stop()
        except BaseException:
            logging.getLogger("tidings.tests").exception("the in-process server failed")
            raise
        finally:
            root.removeHandler(handler)
            handler.close()

    def _start(self) -> InProcessServer:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"the in-process server did not start in {START_TIMEOUT}s:\n{self.log()}")
        if self.error is not None:
            raise RuntimeError(f"the in-process server did not start: {self.error!r}\n{self.log()}") from self.error
        return self

    # From the test's thread.

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run `coro` on the server's loop (where its stack lives) and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def running(self) -> bool:
        return self._thread.is_alive() and not self._stopped

    def stop(self, sig: int | None = None, timeout: float = STOP_TIMEOUT) -> int:
        if sig is not None:
            raise ValueError("an in-process server takes no signal: use a subprocess server (tests/support/server.py)")
        if not self._stopped:
            self._stopped = True
            loop, stopping = self._loop, self._stopping
            if loop is not None and stopping is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(stopping.set)
                except RuntimeError:  # closed meanwhile
                    pass
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"the in-process server did not stop in {timeout}s:\n{self.log()[-3000:]}")
        return 1 if self.error is not None else 0


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def start_inprocess(
    data_dir: Path, *, env: dict[str, str] | None = None, default_app: bool = True, **values: Any
) -> InProcessServer:
    """Start the server on a loop of its own in this process and return once it listens."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings_for(data_dir, env=env, default_app=default_app, **values)
    return InProcessServer(data_dir, settings, dict(env or {}))._start()


# -- the CLI -----------------------------------------------------------------------------------------------


_cli_lock = threading.Lock()


def run_cli(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`tidings ...` against `data_dir`, run in this process; the result looks like `tidings_cli`'s
    (tests/support/server.py). Blocks the caller, as running the command would."""
    from tidings.cli import main

    run_env = {k: None for k in os.environ if k.startswith("TIDINGS_")}
    run_env.update({"TIDINGS_DATA_DIR": str(data_dir), **(env or {})})
    outcome: list[subprocess.CompletedProcess[str]] = []
    failure: list[BaseException] = []

    def invoke() -> None:
        try:
            result = CliRunner().invoke(main, list(args), env=run_env, catch_exceptions=True)
            stderr = result.stderr
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                import traceback

                assert result.exc_info is not None
                stderr += "".join(traceback.format_exception(*result.exc_info))
            outcome.append(subprocess.CompletedProcess(["tidings", *args], result.exit_code, result.stdout, stderr))
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    with _cli_lock:  # the runner swaps sys.stdout and os.environ while it runs
        thread = threading.Thread(target=invoke, name="tidings-cli")
        thread.start()
        thread.join(60)
    if failure:
        raise failure[0]
    if not outcome:
        raise RuntimeError(f"tidings {' '.join(args)} did not finish in 60 s")
    return outcome[0]

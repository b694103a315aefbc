"""Private Redis and PostgreSQL servers for outage tests: the real binaries on free ports, which a test may
pause (SIGSTOP: the process keeps its sockets but answers nothing, like a stalled host), resume, or stop.

The shared servers of the machine (127.0.0.1:6379 and :5432) are never touched.

    with PrivateRedis.running() as r:          # r.url; r.pause() / r.resume() / r.kill()
    with PrivatePostgres.running() as pg:      # pg.url (SQLAlchemy URL); pg.pause() / pg.stop()

PostgreSQL refuses to run as root: when the tests run as root, initdb and postgres run as the `postgres`
OS user (setpriv), in a temporary directory that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.server import free_port


class PrivateRedis:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[PrivateRedis]:
        server = cls()
        server.start()
        try:
            yield server
        finally:
            server.kill()

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not on PATH; the outage tests run their own Redis", pytrace=False)
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL ends a stopped process too
            self.proc.wait(5)


def _postgres_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path is None:
        pytest.fail("no PostgreSQL binaries (/usr/lib/postgresql/*/bin or postgres on PATH)", pytrace=False)
    return Path(on_path).parent


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb) with trust authentication for user `postgres`."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bindir = _postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="tidings-pg-"))
        self.data = self.root / "data"
        self.proc: subprocess.Popen[bytes] | None = None
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[PrivatePostgres]:
        server = cls()
        try:
            server.start()
            yield server
        finally:
            server.kill()
            shutil.rmtree(server.root, ignore_errors=True)

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            pytest.fail(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}", pytrace=False)

    def start(self) -> None:
        if not self.data.exists():
            self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync", "--no-instructions")
        log = (self.root / "postgres.log").open("ab")
        # fsync off and friends: a test cluster, thrown away afterwards. Sockets only on TCP 127.0.0.1.
        self.proc = subprocess.Popen(
            [*self._as, str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run([str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                                   capture_output=True, timeout=10)
            if ready.returncode == 0:
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"private PostgreSQL did not start:\n{self.log()}", pytrace=False)
            time.sleep(0.1)

    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def pause(self) -> None:
        """SIGSTOP the postmaster and its backends: connections hang instead of failing."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        for pid in (self.proc.pid, *(int(p) for p in children.stdout.split())):
            with contextlib.suppress(ProcessLookupError):  # a backend that just ended
                os.kill(pid, sig)

    def stop(self) -> None:
        """Immediate shutdown (as `pg_ctl stop -m immediate`): every connection is cut, new ones refused."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            self.proc.wait(30)

    def kill(self) -> None:
        self.resume()
        self.stop()

"""Start a real Tidings server in a subprocess, on a free port, with its own data dir.

For tests where the process boundary is the point: signals, crashes, exit codes, the server process's memory,
several nodes. Everything else runs the server in the test process (tests/support/inprocess.py)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

APP_ID = "123456"
APP_KEY = "test-key"
APP_SECRET = "test-secret"


STARTUP_TIMEOUT = 60.0  # seconds: a loaded machine starting Python, migrating a fresh database
LISTENING = re.compile(rb"listening on [^\s:]+:(\d+)")  # the line `tidings serve` logs once it listens


def free_port() -> int:
    """A port free now: for servers that cannot pick their own (a private redis-server). It may be taken again
    before it is used; `tidings serve` is started on port 0 instead and its port read from its log."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    proc: subprocess.Popen[bytes]
    host: str
    data_dir: Path
    log_path: Path
    app_id: str = APP_ID
    key: str = APP_KEY
    secret: str = APP_SECRET
    env: dict[str, str] = field(default_factory=dict)
    log_file: IO[bytes] | None = None
    _port: int = 0

    @property
    def port(self) -> int:
        """The port the server picked (it listens on port 0): read from its log, waiting until it is there."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._port:
            found = LISTENING.search(self.log_path.read_bytes())
            if found:
                self._port = int(found.group(1))
            elif self.proc.poll() is not None:
                raise RuntimeError(f"tidings exited with {self.proc.returncode} before listening:\n{self.log()}")
            elif time.monotonic() > deadline:
                raise RuntimeError(f"tidings did not listen within {STARTUP_TIMEOUT}s:\n{self.log()}")
            else:
                time.sleep(0.05)
        return self._port

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def ws_url(self, key: str | None = None, query: str = "protocol=7&client=js&version=8.6.0") -> str:
        return f"ws://{self.host}:{self.port}/app/{key or self.key}?{query}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log_file is not None:
            self.log_file.close()
        return self.proc.returncode


def tidings_cli(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `tidings ...` as a user would, against the given data dir."""
    full_env = {**os.environ, "TIDINGS_DATA_DIR": str(data_dir), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tidings", *args], env=full_env, capture_output=True, text=True, timeout=60
    )


def start_server(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    default_app: bool = True,
    wait: bool = True,
) -> RunningServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    if default_app:
        full_env.update(
            TIDINGS_DEFAULT_APP_ID=APP_ID,
            TIDINGS_DEFAULT_APP_KEY=APP_KEY,
            TIDINGS_DEFAULT_APP_SECRET=APP_SECRET,
            TIDINGS_DEFAULT_APP_CLIENT_EVENTS="true",
        )
    # The emulated push services live on http://127.0.0.1: let the server register and deliver to them.
    full_env.update(TIDINGS_LOG_LEVEL="debug", TIDINGS_PUSH_ALLOW_PRIVATE_NETWORKS="true")
    full_env.update(TIDINGS_DRAIN_SECONDS="0")  # stop at once; the drain tests set a window
    full_env.update(env or {})
    log_path = data_dir / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        # Port 0: the server binds a free port itself (no window in which another test could take it).
        [sys.executable, "-m", "tidings", "serve", "--host", "127.0.0.1", "--port", "0",
         "--data-dir", str(data_dir), *args],
        stdout=log, stderr=subprocess.STDOUT, env=full_env,
    )
    server = RunningServer(proc, "127.0.0.1", data_dir, log_path, env=full_env, log_file=log)
    if wait:
        wait_ready(server)
    return server


def wait_ready(server: RunningServer, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"tidings exited with {server.proc.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.http_url}/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"tidings did not become ready in {timeout}s:\n{server.log()}")

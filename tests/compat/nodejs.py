"""Run the Node compatibility scripts in tests/compat/node/ and collect the JSON lines they print."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).parent / "node"


def ensure_node_modules() -> None:
    """Install the pinned npm packages (npm ci) unless they are already there."""
    node_modules = NODE_DIR / "node_modules"
    lock = NODE_DIR / "package-lock.json"
    assert shutil.which("node"), "node is not on PATH; the compat tests need Node 20+"
    # pytest-xdist workers may get here together: one installs, the others wait.
    with open(Path(tempfile.gettempdir()) / "tidings-compat-npm.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not node_modules.is_dir() or lock.stat().st_mtime > node_modules.stat().st_mtime:
            proc = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR, capture_output=True, text=True, timeout=300,
            )
            assert proc.returncode == 0, f"npm ci failed in {NODE_DIR}:\n{proc.stdout}\n{proc.stderr}"
            node_modules.touch()
    for name, version in (("pusher-js", "8.6.0"), ("pusher", "5.3.4")):
        meta = json.loads((node_modules / name / "package.json").read_text())
        assert meta["version"] == version, f"{name} {meta['version']} installed, expected {version}"


class NodeScript:
    """A running `node <script>`; stdout lines are parsed as JSON events as they arrive."""

    def __init__(self, script: str, env: dict[str, str], timeout_ms: int = 10_000) -> None:
        self.script = script
        full_env = {**os.environ, **env, "COMPAT_TIMEOUT_MS": str(timeout_ms)}
        self.proc = subprocess.Popen(
            ["node", script], cwd=NODE_DIR, env=full_env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=1,
        )
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.stderr = ""
        self._arrived = threading.Condition()
        self._ended = False
        self._taken: set[int] = set()  # indexes in `lines` already returned by wait_for
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw.append(line.rstrip("\n"))
            try:
                item = json.loads(line)
            except ValueError:
                item = {"event": "non-json", "line": line.rstrip("\n")}
            with self._arrived:
                self.lines.append(item)
                self._arrived.notify_all()
        with self._arrived:
            self._ended = True
            self._arrived.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def transcript(self) -> str:
        return f"--- {self.script} stdout:\n" + "\n".join(self.raw) + f"\n--- stderr:\n{self.stderr}"

    def wait_for(self, event: str, timeout: float = 10) -> dict[str, Any]:
        """The first line with this event that no earlier wait_for returned, as soon as the script prints it;
        fail with the transcript otherwise. Lines of other events are kept, in whatever order they came: a
        script may print "after" before "offline", and a later wait_for("after") still finds it."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for index, item in enumerate(self.lines):
                    if index not in self._taken and item.get("event") == event:
                        self._taken.add(index)
                        return item
                remaining = deadline - time.monotonic()
                if self._ended:
                    break
                if remaining <= 0:
                    raise AssertionError(f"no {event!r} line within {timeout}s\n{self.transcript()}")
                self._arrived.wait(remaining)
        self.proc.wait(5)
        self._err_reader.join(2)
        raise AssertionError(f"script ended before printing {event!r}\n{self.transcript()}")

    def finish(self, timeout: float = 20) -> list[dict[str, Any]]:
        """Wait for the script to exit; it must exit 0 and print "done". Returns all lines but raw frames."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.script} still running after {timeout}s\n{self.transcript()}") from None
        self._reader.join(5)
        self._err_reader.join(5)
        assert self.proc.returncode == 0, f"{self.script} exited {self.proc.returncode}\n{self.transcript()}"
        assert any(i.get("event") == "done" for i in self.lines), f"no 'done' line\n{self.transcript()}"
        return self.events()

    def events(self, name: str | None = None, /, **match: Any) -> list[dict[str, Any]]:
        """Lines (raw frames excluded unless asked for) with this event name and matching fields."""
        return [
            i for i in self.lines
            if (i.get("event") == name if name else i.get("event") != "wire")
            and all(i.get(k) == v for k, v in match.items())
        ]

    def one(self, name: str, /, **match: Any) -> dict[str, Any]:
        found = self.events(name, **match)
        assert len(found) == 1, f"expected one {name!r} {match} line, got {len(found)}\n{self.transcript()}"
        return found[0]

    def frames(self, client: str | None = None, direction: str = "in") -> list[dict[str, Any]]:
        """Raw WebSocket frames (parsed JSON, `data` left as sent) of one pusher-js client, or of all."""
        sockets = {i["socket"] for i in self.lines if i.get("event") == "socket" and client in (None, i["client"])}
        return [
            json.loads(i["data"]) for i in self.lines
            if i.get("event") == "wire" and i["dir"] == direction and (client is None or i["socket"] in sockets)
        ]

    def closes(self) -> list[dict[str, Any]]:
        return self.events("ws_close")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

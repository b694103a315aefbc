"""`tidings tail` against a running server: the real command in a process of its own, as a user runs it."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pusher
import pytest

from tests.console.support import TOKEN
from tests.support.inprocess import InProcessServer

pytestmark = pytest.mark.slow  # a subprocess per test

WAIT = 30.0


class Tail:
    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tidings", "tail", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env={k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")} | env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.errors.append), daemon=True).start()

    @staticmethod
    def _pump(stream: object, put: Callable[[str], None]) -> None:
        for text in stream:  # type: ignore[attr-defined]
            put(text.rstrip("\n"))

    def following(self) -> None:
        deadline = time.monotonic() + WAIT
        while not any("following" in e for e in self.errors):
            assert time.monotonic() < deadline and self.proc.poll() is None, self.errors
            time.sleep(0.05)

    def until(self, needle: str) -> str:
        deadline = time.monotonic() + WAIT
        while True:
            text = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if needle in text:
                return text

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def srv(make_server: Callable[..., InProcessServer]) -> InProcessServer:
    return make_server(env={"TIDINGS_CONSOLE_TOKEN": TOKEN})


@pytest.fixture
def tails() -> Iterator[list[Tail]]:
    started: list[Tail] = []
    yield started
    for t in started:
        t.stop()


def sdk(srv: InProcessServer) -> pusher.Pusher:
    return pusher.Pusher(app_id=srv.app_id, key=srv.key, secret=srv.secret, host=srv.host, port=srv.port, ssl=False)


def test_tail_prints_one_line_per_event_with_filters(srv: InProcessServer, tails: list[Tail]) -> None:
    env = {"TIDINGS_CONSOLE_TOKEN": TOKEN, "TIDINGS_CONSOLE_URL": srv.http_url}
    plain = Tail("--app", srv.app_id, "--channel", "orders-", env=env)
    as_json = Tail("--app", srv.app_id, "--json", "--kind", "event_triggered", env=env)
    tails += [plain, as_json]
    plain.following()
    as_json.following()
    sdk(srv).trigger("news", "ignored", {"x": 1})
    sdk(srv).trigger("orders-7", "order-paid", {"order": 7})
    text = plain.until("order-paid")
    assert "event_triggered" in text and '"order": 7' in text.replace('"order":7', '"order": 7')
    assert "\x1b[" not in text  # no colours when stdout is not a terminal
    record = json.loads(as_json.until("ignored"))
    assert record["kind"] == "event_triggered" and record["channels"] == ["news"]
    assert json.loads(record["data"]) == {"x": 1}


def test_tail_refuses_a_wrong_token_and_finds_the_embedded_one(
    srv: InProcessServer, make_server: Callable[..., InProcessServer], tmp_path: Path
) -> None:
    wrong = subprocess.run(
        [sys.executable, "-m", "tidings", "tail", "--app", srv.app_id, "--url", srv.http_url, "--token", "nope"],
        capture_output=True, text=True, timeout=60,
    )
    assert wrong.returncode == 1 and "401" in wrong.stderr and "Wrong console token" in wrong.stderr
    embedded = make_server()  # no token set, no database_url: the embedded default generates one
    token_file = embedded.data_dir / "console-token"
    assert token_file.stat().st_mode & 0o077 == 0
    tail = Tail("--app", embedded.app_id, "--url", embedded.http_url, "--data-dir", str(embedded.data_dir),
                env={})
    try:
        tail.following()
        sdk(embedded).trigger("news", "from-embedded", {})
        assert "from-embedded" in tail.until("from-embedded")
    finally:
        tail.stop()

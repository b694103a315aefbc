from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.inprocess import InProcessServer, start_inprocess
from tests.support.server import RunningServer, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """One real Tidings server per test module, in this process (tests/support/inprocess.py), default app with
    client events on."""
    srv = start_inprocess(tmp_path_factory.mktemp("tidings"))
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., InProcessServer]]:
    """Start in-process servers with custom env (TIDINGS_* names) or settings for one test; all are stopped
    afterwards."""
    started: list[InProcessServer] = []

    def _make(**kwargs: object) -> InProcessServer:
        srv = start_inprocess(tmp_path / f"srv{len(started)}", **kwargs)  # type: ignore[arg-type]
        started.append(srv)
        return srv

    yield _make
    for srv in started:
        srv.stop()


@pytest.fixture
def make_process_server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start `tidings serve` subprocesses with custom env/args for one test, for what needs the process
    boundary (signals, the process's memory, exit codes); all are stopped afterwards."""
    started: list[RunningServer] = []

    def _make(**kwargs: object) -> RunningServer:
        srv = start_server(tmp_path / f"proc{len(started)}", **kwargs)  # type: ignore[arg-type]
        started.append(srv)
        return srv

    yield _make
    for srv in started:
        srv.stop()

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.inprocess import InProcessServer, start_inprocess
from tests.support.server import RunningServer, start_server

# Property tests must not depend on how busy the machine is (4 xdist workers share 2 cores): no per-example
# deadline, and no "input generation is slow" health check, which measures wall time.
settings.register_profile("tidings", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tidings")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow tests run first (stable: files stay whole, in their order): under `pytest -n N --dist
    loadfile` (scripts/test) they start early and the quick files fill in around them, instead of a long
    file starting last and running alone."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


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

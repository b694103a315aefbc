from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real Tidings server per test module, default app with client events on."""
    srv = start_server(tmp_path_factory.mktemp("tidings"))
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[object]:
    """Start servers with custom env/args for one test; all are stopped afterwards."""
    started: list[RunningServer] = []

    def _make(**kwargs: object) -> RunningServer:
        sub = tmp_path / f"srv{len(started)}"
        srv = start_server(sub, **kwargs)  # type: ignore[arg-type]
        started.append(srv)
        return srv

    yield _make
    for srv in started:
        srv.stop()

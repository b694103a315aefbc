"""Tidings installs anywhere: the wheel and the sdist build from the repository, the wheel installs into a fresh
virtualenv (dependencies from PyPI, through pip's cache) and `tidings serve` runs from it, outside the repository,
with its migrations, demo files and static assets; `tidings --version` and `python -m tidings` answer; `pipx install`
of the wheel gives a working `tidings` command.

One module-scoped build and install (the slow part: about a minute with pip's cache warm); each step's time is
printed (pytest -s) and bounded generously.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The module's build and install run inside the first test's time budget: up to a few minutes on a loaded machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "tidings"
_VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
assert _VERSION is not None
VERSION = _VERSION.group(1)
LISTENING = re.compile(r"listening on [^\s:]+:(\d+)")
STEP_TIMEOUT = 600  # seconds: pip resolving and downloading on a loaded machine


@dataclass
class Built:
    wheel: Path
    sdist: Path
    venv: Path
    tools: Path  # a virtualenv with hatchling and pipx
    timings: dict[str, float]


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=STEP_TIMEOUT, cwd=cwd,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def clean_env() -> dict[str, str]:
    """No TIDINGS_* from the developer's shell, no PYTHONPATH pointing at the repository."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_") and k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("install")
    timings: dict[str, float] = {}

    started = time.monotonic()
    tools = base / "tools"
    run(sys.executable, "-m", "venv", tools)
    run(tools / "bin" / "python", "-m", "pip", "install", "--quiet", "hatchling>=1.21,<2", "pipx>=1.4,<2")
    timings["tools venv (hatchling, pipx)"] = time.monotonic() - started

    started = time.monotonic()
    dist = base / "dist"
    run(tools / "bin" / "python", "-m", "hatchling", "build", "-d", dist, cwd=ROOT)
    timings["build wheel + sdist"] = time.monotonic() - started
    (wheel,) = dist.glob(f"tidings-{VERSION}-*.whl")
    (sdist,) = dist.glob(f"tidings-{VERSION}.tar.gz")

    started = time.monotonic()
    venv = base / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel)
    timings["fresh venv + pip install wheel"] = time.monotonic() - started
    return Built(wheel, sdist, venv, tools, timings)


def test_the_wheel_holds_every_file_of_the_package(built: Built) -> None:
    names = set(zipfile.ZipFile(built.wheel).namelist())
    expected = {
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert expected - names == set(), "files of src/tidings missing from the wheel"
    # The non-Python files are the point: migrations' template, demo and console assets, py.typed, ...
    assert any(n.endswith("migrations/script.py.mako") for n in names)
    assert any(n.startswith("tidings/web/demo/static/") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "tidings = tidings.cli:main" in zipfile.ZipFile(built.wheel).read(entry_points).decode()


def test_the_sdist_holds_the_sources_and_the_metadata(built: Built) -> None:
    with tarfile.open(built.sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "src/tidings/__init__.py", "src/tidings/cli/__init__.py",
            "src/tidings/storage/migrations/script.py.mako"} <= names


def test_version_and_module_entry_point(built: Built, tmp_path: Path) -> None:
    env = clean_env()
    out = run(built.venv / "bin" / "tidings", "--version", cwd=tmp_path, env=env)
    assert out.strip() == f"tidings, version {VERSION}"
    out = run(built.venv / "bin" / "python", "-m", "tidings", "--version", cwd=tmp_path, env=env)
    assert out.strip() == f"tidings, version {VERSION}"
    # The installed package, not the repository's sources, answered.
    where = run(built.venv / "bin" / "python", "-c", "import tidings; print(tidings.__file__)", cwd=tmp_path, env=env)
    assert str(built.venv) in where and str(ROOT) not in where


@pytest.fixture
def served(built: Built, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    log = tmp_path / "serve.log"
    data = tmp_path / "data"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(built.venv / "bin" / "tidings"), "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir",
             str(data), "--demo"],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, env=clean_env(),
        )
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None:
            assert proc.poll() is None, f"tidings serve exited {proc.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"tidings serve did not listen in 60 s:\n{log.read_text()}"
            found = LISTENING.search(log.read_text(errors="replace"))
            port = int(found.group(1)) if found else None
            time.sleep(0.1)
        yield port, data
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def get(port: int, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
        return reply.status, reply.read()


def test_serve_runs_from_the_installed_wheel(built: Built, served: tuple[int, Path]) -> None:
    port, data = served
    deadline = time.monotonic() + 30
    while True:  # ready once the database is migrated and the adapter started
        try:
            if get(port, "/ready")[0] == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "not ready in 30 s"
        time.sleep(0.1)
    assert (data / "tidings.db").is_file()  # migrations ran from the wheel
    status, page = get(port, "/demo")
    assert status == 200 and b"<html" in page.lower()
    for asset in sorted((PACKAGE / "web" / "demo" / "static").iterdir()):
        status, body = get(port, f"/demo/static/{asset.name}")
        assert status == 200 and body == asset.read_bytes(), asset.name
    status, metrics = get(port, "/metrics")
    assert status == 200 and b"tidings_connections" in metrics


def test_pipx_install(built: Built, tmp_path: Path) -> None:
    started = time.monotonic()
    env = {**clean_env(), "PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin"),
           "PIPX_MAN_DIR": str(tmp_path / "man")}
    run(built.tools / "bin" / "python", "-m", "pipx", "install", built.wheel, env=env)
    out = run(tmp_path / "bin" / "tidings", "--version", cwd=tmp_path, env=env)
    assert out.strip() == f"tidings, version {VERSION}"
    built.timings["pipx install wheel"] = time.monotonic() - started
    print("\ninstall timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in built.timings.items()))

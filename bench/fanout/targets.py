"""The servers the bench can measure, each started as a subprocess on a free localhost port."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.fanout.common import AppCreds, free_port

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / "bench" / ".work"
SOKETI_SRC = REPO / "bench" / "soketi"
SOKETI_DIR = WORK / "soketi"
SOKETI_BIN = SOKETI_DIR / "node_modules" / "@soketi" / "soketi" / "bin" / "server.js"


@dataclass
class Ctx:
    host: str
    port: int
    creds: AppCreds
    tmpdir: Path


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    argv: Callable[[Ctx], list[str]]
    env: Callable[[Ctx], dict[str, str]] = field(default=lambda ctx: {})
    cwd: Path = REPO
    ready_path: str | None = "/"  # GET that must answer 200 once the server is up
    missing: Callable[[], str | None] = field(default=lambda: None)  # why it cannot run, if so


def _py(module: str, *extra: str) -> Callable[[Ctx], list[str]]:
    def argv(ctx: Ctx) -> list[str]:
        return [
            sys.executable, "-m", module, "--host", ctx.host, "--port", str(ctx.port),
            "--app-id", ctx.creds.app_id, "--key", ctx.creds.key, "--secret", ctx.creds.secret, *extra,
        ]

    return argv


def _floor(loop: str) -> Callable[[Ctx], list[str]]:
    def argv(ctx: Ctx) -> list[str]:
        return [sys.executable, "-m", "bench.fanout.floor", "--host", ctx.host, "--port", str(ctx.port),
                "--loop", loop]

    return argv


def _tidings_argv(ctx: Ctx) -> list[str]:
    return [sys.executable, "-m", "tidings", "serve", "--host", ctx.host, "--port", str(ctx.port),
            "--data-dir", str(ctx.tmpdir / "tidings-data")]


def _tidings_env(ctx: Ctx) -> dict[str, str]:
    return {
        "TIDINGS_DEFAULT_APP_ID": ctx.creds.app_id,
        "TIDINGS_DEFAULT_APP_KEY": ctx.creds.key,
        "TIDINGS_DEFAULT_APP_SECRET": ctx.creds.secret,
        "TIDINGS_LOG_LEVEL": "warning",
    }


def _tidings_console_off_env(ctx: Ctx) -> dict[str, str]:
    return {**_tidings_env(ctx), "TIDINGS_CONSOLE_TOKEN": ""}  # empty: no console at all


def _tidings_console_env(ctx: Ctx) -> dict[str, str]:
    return {**_tidings_env(ctx), "TIDINGS_CONSOLE_TOKEN": "bench-console-token"}


def _tidings_console_open_argv(ctx: Ctx) -> list[str]:
    return [sys.executable, "-m", "bench.fanout.console_open", "--host", ctx.host, "--port", str(ctx.port),
            "--data-dir", str(ctx.tmpdir / "tidings-console-data")]


def _tidings_missing() -> str | None:
    probe = subprocess.run(
        [sys.executable, "-m", "tidings", "serve", "--help"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"`python -m tidings serve` does not work yet ({last})"
    return None


def _tidings_cluster_argv(ctx: Ctx) -> list[str]:
    return [sys.executable, "-m", "bench.fanout.cluster", "--host", ctx.host, "--port", str(ctx.port),
            "--nodes", "2", "--data-dir", str(ctx.tmpdir / "tidings-cluster")]


def _tidings_cluster_missing() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    return _tidings_missing()


def _soketi_argv(ctx: Ctx) -> list[str]:
    return [shutil.which("node") or "node", str(SOKETI_BIN), "start"]


def _soketi_env(ctx: Ctx) -> dict[str, str]:
    return {
        "SOKETI_HOST": ctx.host,
        "SOKETI_PORT": str(ctx.port),
        "SOKETI_METRICS_HOST": ctx.host,
        "SOKETI_METRICS_SERVER_PORT": str(free_port(ctx.host)),
        "SOKETI_DEFAULT_APP_ID": ctx.creds.app_id,
        "SOKETI_DEFAULT_APP_KEY": ctx.creds.key,
        "SOKETI_DEFAULT_APP_SECRET": ctx.creds.secret,
        "SOKETI_SHUTDOWN_GRACE_PERIOD": "200",
    }


def _soketi_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not SOKETI_BIN.exists():
        return "soketi is not installed: run `python -m bench.fanout install`"
    return None


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("floor", "bare asyncio Protocol on uvloop, one pre-built frame, transport.write per subscriber",
               _floor("uvloop")),
        Target("floor-asyncio", "the floor on the stock asyncio loop", _floor("asyncio")),
        Target("aiohttp-naive", "aiohttp on uvloop, `await ws.send_str(text)` per subscriber",
               _py("bench.fanout.stacks.aiohttp_naive")),
        Target("aiohttp-prebuilt", "aiohttp on uvloop, frame built once, "
               "`request.transport.write(frame)` per subscriber",
               _py("bench.fanout.stacks.aiohttp_prebuilt")),
        Target("uvicorn-starlette", "uvicorn (uvloop, httptools, ws=websockets) + Starlette, "
               "`await websocket.send_text()` per subscriber (ASGI)", _py("bench.fanout.stacks.uvicorn_starlette")),
        Target("uvicorn-starlette-sansio", "as uvicorn-starlette with ws=websockets-sansio",
               _py("bench.fanout.stacks.uvicorn_starlette", "--ws", "websockets-sansio")),
        Target("soketi", "soketi 1.6.1 (Node 20, uWebSockets.js), the peer", _soketi_argv, _soketi_env,
               cwd=SOKETI_DIR, missing=_soketi_missing),
        Target("tidings", "Tidings: `python -m tidings serve`", _tidings_argv, _tidings_env,
               ready_path="/ready", missing=_tidings_missing),
        Target("tidings-console-off", "Tidings with no console (TIDINGS_CONSOLE_TOKEN empty)", _tidings_argv,
               _tidings_console_off_env, ready_path="/ready", missing=_tidings_missing),
        Target("tidings-console-idle", "Tidings with its console on (token set) and no console open",
               _tidings_argv, _tidings_console_env, ready_path="/ready", missing=_tidings_missing),
        Target("tidings-console-open", "Tidings with its console open all along: one unfiltered SSE stream of the "
               "app, read by the launcher (bench/fanout/console_open.py)", _tidings_console_open_argv,
               _tidings_console_env, ready_path="/ready", missing=_tidings_missing),
        Target("tidings-2nodes-redis", "two Tidings nodes on one port (SO_REUSEPORT) sharing their own "
               "redis-server: subscribers split between the nodes, events cross through Redis",
               _tidings_cluster_argv, _tidings_env, ready_path="/ready", missing=_tidings_cluster_missing),
    ]
}

DEFAULT_TARGETS = ["floor", "aiohttp-naive", "aiohttp-prebuilt", "uvicorn-starlette", "soketi", "tidings"]


def install_soketi(force: bool = False) -> None:
    """``npm install`` soketi into bench/.work/soketi from the committed bench/soketi/package.json."""
    SOKETI_DIR.mkdir(parents=True, exist_ok=True)
    src = (SOKETI_SRC / "package.json").read_bytes()
    dst = SOKETI_DIR / "package.json"
    changed = not dst.exists() or dst.read_bytes() != src
    if changed:
        dst.write_bytes(src)
    if force or changed or not SOKETI_BIN.exists():
        print(f"npm install in {SOKETI_DIR} ...", flush=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=SOKETI_DIR, check=True,
                       env={**os.environ, "npm_config_loglevel": "error"})
    print(f"soketi: {SOKETI_BIN} ({'present' if SOKETI_BIN.exists() else 'MISSING'})")


def from_src(target: Target, src: str, name: str | None = None) -> Target:
    """``target`` with ``src`` first on PYTHONPATH: the tidings package of another checkout."""
    path = os.path.abspath(src)
    base_env = target.env
    return dataclasses.replace(
        target, name=name or target.name, description=f"{target.description}, from {path}",
        env=lambda ctx: {**base_env(ctx), "PYTHONPATH": path},
    )


def with_sources(args: argparse.Namespace, targets: dict[str, Target], names: list[str]) -> list[str]:
    """Apply --tidings-src and --compare-src to ``targets`` (in place) and the run order ``names``."""
    if args.tidings_src:
        for name in [n for n in targets if n.startswith("tidings")]:
            targets[name] = from_src(targets[name], args.tidings_src)
    if args.compare_src and "tidings" in targets:
        targets["tidings-before"] = from_src(targets["tidings"], args.compare_src, "tidings-before")
        if "tidings" in names and "tidings-before" not in names:
            names.insert(names.index("tidings") + 1, "tidings-before")
    return names

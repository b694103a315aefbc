"""The bench's processes: gateway emulators (multiprocessing, spawned) and the server side (`tidings serve`,
optionally with `tidings worker` processes), with their CPU time read from /proc.

    server = ServerSide(env, host, port, data_dir, log, worker_processes=2, cpus=[0])
    server.start()               # serve (TIDINGS_DELIVERY_WORKERS=0 when there are worker processes), then workers
    server.use(1)                # only the first worker process runs (SIGCONT it, SIGSTOP the others, when idle)
    server.cpu()                 # user+sys of every server-side process tree, summed
    server.stop()
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
import urllib.request
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import IO, Any

from bench.fanout import procstat


class Gateway:
    def __init__(self, name: str, target: Any, *args: Any) -> None:
        ctx = mp.get_context("spawn")  # no fork: the parent may hold threads and an event loop
        self.conn, child = ctx.Pipe()
        self.proc: SpawnProcess = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
        self.proc.start()
        self.info: dict[str, Any] = self._recv(120)

    @property
    def name(self) -> str:
        return self.proc.name.removesuffix("-emulator")

    def _recv(self, timeout: float) -> Any:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"{self.proc.name} did not answer in {timeout}s")
        return self.conn.recv()

    def ask(self, command: str, *args: Any) -> Any:
        self.conn.send((command, *args))
        return self._recv(120)

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.is_alive():
            try:
                self.conn.send(("stop",))
            except OSError:
                pass
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()


def clean_env(extra: dict[str, str], pythonpath: str | None = None) -> dict[str, str]:
    """This environment without TIDINGS_* (the bench sets what it needs), plus `extra`; PYTHONPATH first when the
    server side runs another checkout's code (`--tidings-src`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return {**env, **extra}


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tidings", *args], env=env, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"tidings {' '.join(args[:2])} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


class ServerSide:
    def __init__(self, env: dict[str, str], host: str, port: int, data_dir: Path, log: IO[bytes], *,
                 worker_processes: int = 0, cpus: list[int] | None = None) -> None:
        self.env = env
        self.host, self.port = host, port
        self.base = f"http://{host}:{port}"
        self.data_dir = data_dir
        self.log = log
        self.worker_processes = worker_processes
        self.cpus = cpus
        self.serve: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._stopped: set[int] = set()

    def _popen(self, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "tidings", *args]
        if self.cpus is not None:
            argv = ["taskset", "-c", ",".join(map(str, self.cpus)), *argv]
        return subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def start(self) -> None:
        env = dict(self.env)
        if self.worker_processes:
            env["TIDINGS_DELIVERY_WORKERS"] = "0"
        self.serve = self._popen("serve", "--host", self.host, "--port", str(self.port), "--data-dir",
                                 str(self.data_dir), env=env)
        self._wait_ready()  # migrations done: the workers find the schema in place
        self.workers = [self._popen("worker", "--data-dir", str(self.data_dir), env=self.env)
                        for _ in range(self.worker_processes)]
        time.sleep(1.0)
        for w in self.workers:
            if w.poll() is not None:
                raise RuntimeError(f"tidings worker exited with {w.returncode}; see the server log")

    def _wait_ready(self, timeout: float = 60) -> None:
        assert self.serve is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.serve.poll() is not None:
                raise RuntimeError(f"tidings serve exited with {self.serve.returncode}; see the server log")
            try:
                with urllib.request.urlopen(f"{self.base}/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"tidings serve not ready in {timeout}s; see the server log")

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in ([self.serve] if self.serve else []) + self.workers]

    def use(self, n: int) -> None:
        """Let the first `n` worker processes run, SIGSTOP the others. Call between publishes only: a stopped
        worker then holds no rows (and its in-flight work would otherwise wait for it)."""
        for i, w in enumerate(self.workers):
            if i < n and w.pid in self._stopped:
                os.kill(w.pid, signal.SIGCONT)
                self._stopped.discard(w.pid)
            elif i >= n and w.pid not in self._stopped:
                os.kill(w.pid, signal.SIGSTOP)
                self._stopped.add(w.pid)

    def cpu(self) -> procstat.CpuSample:
        total = procstat.CpuSample(0.0, 0.0, 0)
        for pid in self.pids:
            s = procstat.tree_cpu(pid)
            total = procstat.CpuSample(total.user_s + s.user_s, total.sys_s + s.sys_s, total.pids + s.pids)
        return total

    def rss_mb(self) -> float:
        return sum(procstat.tree_rss_bytes(pid) for pid in self.pids) / 2**20

    def alive(self) -> bool:
        return all(p.poll() is None for p in ([self.serve] if self.serve else []) + self.workers)

    def stop(self) -> None:
        for proc in [*self.workers, *([self.serve] if self.serve else [])]:
            if proc.poll() is None:
                if proc.pid in self._stopped:
                    os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.workers, *([self.serve] if self.serve else [])]:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

"""A Tidings cluster as one bench target: N `tidings serve` nodes sharing one port, and their own Redis.

    python -m bench.fanout.cluster --host H --port P --nodes 2 --data-dir D

The nodes listen on the same port with SO_REUSEPORT (`TIDINGS_REUSE_PORT`), so the kernel spreads the
bench's subscribers (and its trigger connection) between them with no proxy in the path: an event triggered
on one node reaches the other node's subscribers through Redis, one message per event. A private
`redis-server` runs as a child of this launcher, so the bench's CPU figure for the target (the whole process
tree) includes Redis. Every few seconds the launcher prints how many sockets each node holds, to show the
split in the target's log. App credentials come from TIDINGS_DEFAULT_APP_* in the environment.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _sockets(pid: int) -> int:
    try:
        return sum(os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:") for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--data-dir", type=Path, required=True)
    args = ap.parse_args()

    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        sys.exit("redis-server is not installed")
    redis_port = _free_port(args.host)
    children = [subprocess.Popen(
        [redis_bin, "--port", str(redis_port), "--bind", args.host, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )]
    time.sleep(0.3)
    env = {
        **os.environ,
        "TIDINGS_REDIS_URL": f"redis://{args.host}:{redis_port}/0",
        "TIDINGS_REDIS_PREFIX": f"bench-{secrets.token_hex(3)}",
        "TIDINGS_REUSE_PORT": "true",
        "TIDINGS_DELIVERY_WORKERS": "0",
    }
    # All nodes are started at once, so they bind the shared port at about the same time, before the bench
    # connects its subscribers (it waits for /ready, then starts its subscriber processes).
    for i in range(args.nodes):
        children.append(subprocess.Popen(
            [sys.executable, "-m", "tidings", "serve", "--host", args.host, "--port", str(args.port),
             "--data-dir", str(args.data_dir / f"node{i}")],
            env=env,
        ))

    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    last: list[int] = []
    while not stop and all(c.poll() is None for c in children):
        counts = [_sockets(c.pid) for c in children[1:]]
        if counts != last:
            print(f"cluster: sockets per node {counts}", flush=True)
            last = counts
        time.sleep(2)
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    main()

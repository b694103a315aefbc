"""Tidings with its live console open during the run, as one bench target.

    python -m bench.fanout.console_open --host H --port P --data-dir D

Starts `python -m tidings serve` (credentials from TIDINGS_DEFAULT_APP_* in the environment, console token
TIDINGS_CONSOLE_TOKEN), waits for /ready, then opens the console's unfiltered SSE stream of the app
(`/console/api/apps/{id}/stream`) and reads it to the end with a raw socket, discarding what it reads: what a
browser tab watching every event costs the server. The reader is a thread of this launcher, inside the target's
process tree; it does one recv per few kilobytes, negligible next to the server's work (bytes read and records
are printed at the end, in the target's log).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request


def _read_stream(host: str, port: int, app_id: str, token: str, totals: dict[str, int]) -> None:
    with socket.create_connection((host, port)) as s:
        s.sendall(
            f"GET /console/api/apps/{app_id}/stream HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                return
            totals["bytes"] += len(chunk)
            totals["records"] += chunk.count(b"data: ")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    token = os.environ["TIDINGS_CONSOLE_TOKEN"]
    app_id = os.environ["TIDINGS_DEFAULT_APP_ID"]
    server = subprocess.Popen([sys.executable, "-m", "tidings", "serve", "--host", args.host, "--port",
                               str(args.port), "--data-dir", args.data_dir])
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    signal.signal(signal.SIGINT, lambda *_: server.terminate())
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://{args.host}:{args.port}/ready", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.terminate()
            sys.exit("tidings did not start")
        time.sleep(0.1)
    totals = {"bytes": 0, "records": 0}
    threading.Thread(target=_read_stream, args=(args.host, args.port, app_id, token, totals), daemon=True).start()
    code = server.wait()
    print(f"console reader: {totals['records']} records, {totals['bytes']} bytes", flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()

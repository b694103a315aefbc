"""The Beams bench's text table and its Markdown section for bench/RESULTS.md."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import statistics

from bench.beams.runner import Round, Run

COLUMNS = [
    ("round", "measured publish"),
    ("notif/s", "notifications per second: publish request sent to the last notification at a gateway"),
    ("first ms", "publish sent to the first notification at a gateway"),
    ("p50 ms", "publish-to-gateway latency of the notifications, median"),
    ("p99 ms", "... 99th percentile"),
    ("done s", "publish sent to status `done` (every result recorded)"),
    ("srv us/notif", "server CPU (user+sys, from /proc) from publish to done, per notification"),
    ("srv CPU%", "server CPU over that time (100% = one core)"),
    ("gw us/notif", "CPU of the two gateway emulators per notification"),
    ("foreign%", "CPU used by other processes on the machine meanwhile (100% = one core): a noise indicator"),
    ("arrived", "notifications accepted by the gateways / expected"),
]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def machine_info() -> dict[str, str]:
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": ", ".join(f"{d} {_version(d)}" for d in ("aiohttp", "uvloop", "httpx", "h2", "sqlalchemy",
                                                              "aiosqlite", "http-ece", "hypercorn")),
    }


def _row(name: str, r: Round) -> list[str]:
    return [
        name,
        f"{r.notifications_per_s:,.0f}",
        f"{r.first_ms:.0f}",
        f"{r.p50_ms:.0f}",
        f"{r.p99_ms:.0f}",
        f"{r.done_s:.2f}",
        f"{r.server_us_per_notification:.0f}",
        f"{r.server_cpu_pct:.0f}",
        f"{r.gateways_us_per_notification:.0f}",
        f"{r.foreign_cpu_pct:.0f}",
        f"{r.arrived}/{r.expected}" + (f" ({r.failed} refused)" if r.failed else ""),
    ]


def _median(run: Run) -> list[str]:
    def med(attr: str) -> float:
        return float(statistics.median(float(getattr(r, attr)) for r in run.rounds))

    arrived = min(r.arrived for r in run.rounds)
    return [
        "median",
        f"{med('notifications_per_s'):,.0f}",
        f"{med('first_ms'):.0f}",
        f"{med('p50_ms'):.0f}",
        f"{med('p99_ms'):.0f}",
        f"{med('done_s'):.2f}",
        f"{med('server_us_per_notification'):.0f}",
        f"{med('server_cpu_pct'):.0f}",
        f"{med('gateways_us_per_notification'):.0f}",
        f"{med('foreign_cpu_pct'):.0f}",
        f"min {arrived}/{run.rounds[0].expected}",
    ]


def _rows(run: Run) -> list[list[str]]:
    rows = [_row(str(i + 1), r) for i, r in enumerate(run.rounds)]
    if len(run.rounds) > 1:
        rows.append(_median(run))
    return rows


def table(run: Run) -> str:
    head = [c for c, _ in COLUMNS]
    rows = _rows(run)
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(head, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def markdown(run: Run, info: dict[str, str], command: str, title: str) -> str:
    opts = run.options
    devices = 2 * opts.users
    lines = [
        "",
        "## bench/beams",
        "",
        f"### {title or f'Publish to {opts.users} users, {devices} devices (web + APNs)'}",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), kernel {info['kernel']}, Python {info['python']}",
        f"- versions: {info['versions']}",
        f"- command: `{command}` (from the repository root, with `.venv/bin/python`)",
        f"- setup: one `tidings serve` (SQLite, 1 delivery worker, default concurrency, log level warning); the test "
        f"suite's Web Push and APNs (HTTP/2, TLS) emulators in a process each, on the same machine; "
        f"{opts.users} users x 2 devices registered through the device API ({run.register_requests} requests: "
        f"POST device + PUT user with a Beams Token, {run.register_s:.1f}s); APNs credentials and VAPID subject "
        f"set with `tidings instances configure`; one unmeasured warm-up publish to {opts.warmup_users} users",
        f"- each round: one `POST .../publishes/users` naming all {opts.users} users -> {devices} notifications; "
        f"server RSS at the end {run.server_rss_mb:.0f} MB; no CPU pinning (the server, both emulators and this "
        f"driver share the {info['nproc']} CPUs, so notif/s and latency are bounded by the machine, not by the "
        f"server alone: the server's own cost is `srv us/notif`)",
        "",
        "| " + " | ".join(c for c, _ in COLUMNS) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(run)]
    lines += ["", "Columns: " + "; ".join(f"**{c}** {d}" for c, d in COLUMNS) + ".", ""]
    lines += [f"- round {i + 1}: machine busy before {r.busy_before_pct:.0f}%, last notification at "
              + ", ".join(f"{name} {t:.2f}s" for name, t in sorted(r.last_s.items()))
              + f", status devices {r.status_devices}" for i, r in enumerate(run.rounds)]
    lines.append("")
    return "\n".join(lines)

"""The Beams bench's text tables and its Markdown subsection for bench/RESULTS.md (under "## bench/beams")."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import statistics
from collections.abc import Callable

from bench.beams.fairness import Fairness, FairRound
from bench.beams.runner import Options, Round, Run

COLUMNS = [
    ("round", "measured publish (with worker processes: how many ran)"),
    ("notif/s", "notifications per second: publish request sent to the last notification at a gateway"),
    ("steady/s", "... between the 10th and the 90th percentile arrival (without ramp-up and tail)"),
    ("first ms", "publish sent to the first notification at a gateway"),
    ("p50 ms", "publish-to-gateway latency of the notifications, median"),
    ("p99 ms", "... 99th percentile"),
    ("done s", "publish sent to status `done` (every result recorded)"),
    ("srv us/notif", "server-side CPU (user+sys from /proc: `tidings serve` and any `tidings worker` processes) "
                     "from publish to done, per notification"),
    ("db us/notif", "CPU of the PostgreSQL backends serving the bench's database, per notification"),
    ("notif/CPU-s", "notifications per server-side CPU-second (tidings processes + PostgreSQL backends): the "
                    "throughput one core would give"),
    ("srv CPU%", "server-side CPU over that time (100% = one core)"),
    ("gw us/notif", "CPU of the two gateway emulators per notification"),
    ("foreign%", "CPU used by other processes on the machine meanwhile (100% = one core): a noise indicator"),
    ("arrived", "notifications accepted by the gateways / expected"),
]

FAIR_COLUMNS = [
    ("round", "measured round"),
    ("B", "`alone`: instance B's publish with nothing else to do; `under`: sent while A's big publish runs"),
    ("B last ms", "B's publish request sent to B's last notification at a gateway"),
    ("B first ms", "... to B's first"),
    ("A out", "A's notifications already at the gateways when B published"),
    ("A notif/s", "A's notifications per second, its publish to its last notification"),
    ("A left s", "B's publish to A's last notification (B's wait if publishes went one after the other)"),
    ("srv us/notif", "server-side CPU per notification over the round (A's and B's)"),
    ("db us/notif", "PostgreSQL backends' CPU per notification"),
    ("foreign%", "CPU of other processes meanwhile (100% = one core)"),
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
                                                              "aiosqlite", "asyncpg", "http-ece", "hypercorn")),
    }


def _cells(name: str, get: Callable[[str], float], arrived: str) -> list[str]:
    return [
        name,
        f"{get('notifications_per_s'):,.0f}",
        f"{get('steady_per_s'):,.0f}",
        f"{get('first_ms'):.0f}",
        f"{get('p50_ms'):.0f}",
        f"{get('p99_ms'):.0f}",
        f"{get('done_s'):.2f}",
        f"{get('server_us_per_notification'):.0f}",
        f"{get('db_us_per_notification'):.0f}",
        f"{get('per_cpu_s'):,.0f}",
        f"{get('server_cpu_pct'):.0f}",
        f"{get('gateways_us_per_notification'):.0f}",
        f"{get('foreign_cpu_pct'):.0f}",
        arrived,
    ]


def _variant(code: str, procs: int) -> str:
    parts = [p for p in (code, f"{procs} proc" if procs else "") if p]
    return f" ({', '.join(parts)})" if parts else ""


def _label(i: int, r: Round) -> str:
    return f"{i + 1}{_variant(r.code, r.procs)}"


def _getter(r: Round) -> Callable[[str], float]:
    return lambda attr: float(getattr(r, attr))


def _rows(run: Run) -> list[list[str]]:
    rows = [_cells(_label(i, r), _getter(r), f"{r.arrived}/{r.expected}" + (f" ({r.failed} refused)" if r.failed
                                                                             else ""))
            for i, r in enumerate(run.rounds)]
    for code, procs in sorted({(r.code, r.procs) for r in run.rounds}, key=lambda v: (v[0] != "after", v)):
        group = [r for r in run.rounds if (r.code, r.procs) == (code, procs)]
        if len(group) > 1:
            def med(attr: str, group: list[Round] = group) -> float:
                return float(statistics.median(float(getattr(r, attr)) for r in group))

            rows.append(_cells("median" + _variant(code, procs), med,
                               f"min {min(r.arrived for r in group)}/{group[0].expected}"))
    return rows


def _fair_rows(run: Fairness) -> list[list[str]]:
    def cells(name: str, r: FairRound) -> list[str]:
        under = r.kind == "under"
        return [name, r.kind, f"{r.b_ms:.0f}", f"{r.b_first_ms:.0f}", f"{r.a_before:.0f}" if under else "",
                f"{r.a_per_s:,.0f}" if under else "", f"{r.a_left_s:.1f}" if under else "",
                f"{r.server_us_per_notification:.0f}", f"{r.db_us_per_notification:.0f}", f"{r.foreign_cpu_pct:.0f}"]

    per_round = len({r.code for r in run.rounds}) * 2
    rows = [cells(f"{i // per_round + 1}{_variant(r.code, 0)}", r) for i, r in enumerate(run.rounds)]
    for code in sorted({r.code for r in run.rounds}, key=lambda c: c != "after"):
        for kind in ("alone", "under"):
            group = [r for r in run.rounds if r.kind == kind and r.code == code]
            if len(group) > 1:
                med = {a: statistics.median(getattr(r, a) for r in group) for a in FairRound.__dataclass_fields__
                       if a not in ("kind", "code")}
                rows.append(cells("median" + _variant(code, 0), FairRound(kind=kind, code=code, **med)))
    return rows


def _text(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(head, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def table(run: Run | Fairness) -> str:
    if isinstance(run, Fairness):
        return _text([c for c, _ in FAIR_COLUMNS], _fair_rows(run))
    return _text([c for c, _ in COLUMNS], _rows(run))


def _setup(opts: Options, database: str) -> str:
    if opts.workers_processes:
        server = (f"`tidings serve` with TIDINGS_DELIVERY_WORKERS=0 and "
                  f"{' or '.join(map(str, opts.workers_processes))} `tidings worker` process(es)"
                  + (" (rounds interleaved; the unused process SIGSTOPped while idle)"
                     if len(opts.workers_processes) > 1 else ""))
    else:
        server = "one `tidings serve` (1 delivery worker in it)"
    return (f"{server}, {database}, default concurrency, log level {opts.server_log_level}"
            + (f", server code from `{opts.tidings_src}` (PYTHONPATH)" if opts.tidings_src else
               ", server code from this checkout")
            + (f"; rounds alternate between that server code (\"after\") and `{opts.compare_src}`'s "
               f"(\"before\", PYTHONPATH), each with its own gateways, database and server side, all up at once"
               if opts.compare_src else "")
            + "; " + ("the lean gateways of bench/beams/lean.py" if opts.lean_gateways else
                      "the test suite's Web Push and APNs (HTTP/2, TLS) emulators")
            + " in a process each; "
            + ("CPU pinning: server side on CPU 0 (taskset), gateways and driver on CPU 1; PostgreSQL not pinned"
               if opts.pin else "no CPU pinning (everything shares the machine's CPUs)"))


def markdown(run: Run | Fairness, info: dict[str, str], command: str, title: str) -> str:
    opts = run.options
    fair = isinstance(run, Fairness)
    default = (f"Fairness: {opts.small_devices} devices of B during {opts.big_devices} of A" if fair
               else f"Publish to {opts.users} users, {2 * opts.users} devices (web + APNs)")
    lines = [
        "",
        f"### {title or default}",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), kernel {info['kernel']}, Python {info['python']}",
        f"- versions: {info['versions']}",
        f"- command: `{command}` (from the repository root, with `.venv/bin/python`)",
        f"- setup: {_setup(opts, run.database)}; server RSS at the end {run.server_rss_mb:.0f} MB",
    ]
    if isinstance(run, Run):
        lines.append(f"- devices: {opts.users} users x 2 registered through the device API "
                     f"({run.register_requests} requests, {run.register_s:.1f}s); one unmeasured warm-up publish "
                     f"to {opts.warmup_users} users per variant")
        columns, rows = COLUMNS, _rows(run)
    else:
        lines.append(f"- devices inserted in the database ({run.insert_s:.1f}s); B's publish sent once "
                     f"{opts.big_start} of A's notifications were at the gateways")
        columns, rows = FAIR_COLUMNS, _fair_rows(run)
    lines += ["", "| " + " | ".join(c for c, _ in columns) + " |",
              "|" + "|".join(["---"] * (2 if fair else 1) + ["---:"] * (len(columns) - (2 if fair else 1))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "Columns: " + "; ".join(f"**{c}** {d}" for c, d in columns) + ".", ""]
    if isinstance(run, Run):
        lines += [f"- round {_label(i, r)}: machine busy before {r.busy_before_pct:.0f}%, gateways us/notif "
                  + ", ".join(f"{k} {v:.0f}" for k, v in sorted(r.gateways_us.items()))
                  + ", last notification at " + ", ".join(f"{k} {t:.2f}s" for k, t in sorted(r.last_s.items()))
                  + f", status devices {r.status_devices}" for i, r in enumerate(run.rounds)]
        lines.append("")
    return "\n".join(lines)
